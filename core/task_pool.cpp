#include "core/task_pool.hpp"

#include <chrono>
#include <thread>

namespace am2z {

namespace {
/// An idle thread lingers this long for more work before it exits.
constexpr auto kIdleLinger = std::chrono::seconds(10);
}  // namespace

TaskPool& TaskPool::shared() {
  static auto* pool = new TaskPool();  // intentionally leaked: see header
  return *pool;
}

TaskPool::~TaskPool() {
  std::unique_lock lock(mutex_);
  closing_ = true;
  wake_.notify_all();
  all_gone_.wait(lock, [this] { return threads_ == 0; });
}

void TaskPool::submit(Task task) {
  std::unique_lock lock(mutex_);
  queue_.push_back(std::move(task));
  if (idle_ >= queue_.size()) {
    lock.unlock();
    wake_.notify_one();
    return;
  }
  ++threads_;
  lock.unlock();
  std::thread([this] { worker_loop(); }).detach();
}

std::size_t TaskPool::threads() const {
  std::lock_guard lock(mutex_);
  return threads_;
}

void TaskPool::worker_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (queue_.empty()) {
      ++idle_;
      const bool woke = wake_.wait_for(lock, kIdleLinger, [this] { return !queue_.empty() || closing_; });
      --idle_;
      if (!woke || queue_.empty()) break;  // idle too long, or the pool is closing
    }
    Task task = std::move(queue_.back());
    queue_.pop_back();
    lock.unlock();
    task();
    task = nullptr;  // destroy captures outside the lock
    lock.lock();
  }
  if (--threads_ == 0) all_gone_.notify_all();  // under the lock: the destructor waits for it
}

}  // namespace am2z
