#include "core/redis/batch_progress.hpp"

#include <algorithm>

#include "core/node_base.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/envelope.hpp"

namespace am2z::redis {

std::vector<std::string> batch_join_keys(const PlannedFlow& flow, const std::string& run_id) {
  std::vector<std::string> keys;
  const auto& entries = flow.entries();
  for (const NodeEntry& e : entries) {
    if (e.node->kind() != NodeKind::batch) continue;
    bool nested = false;
    for (int up = e.parent; up >= 0 && !nested; up = entries[static_cast<std::size_t>(up)].parent) {
      nested = entries[static_cast<std::size_t>(up)].node->kind() == NodeKind::batch;
    }
    // outside any batch a node's jobs have no scope: the join's id is the run's and the path
    if (!nested) keys.push_back(flow.join_keys() + job_id(run_id, e.path, ""));
  }
  return keys;
}

BatchProgressPoller::BatchProgressPoller(Endpoint endpoint, std::vector<std::string> join_keys,
                                         std::shared_ptr<RunProgress> progress, std::chrono::milliseconds every)
    : endpoint_(std::move(endpoint)), joins_(std::move(join_keys)), progress_(std::move(progress)), every_(every) {
  thread_ = std::thread([this] { loop(); });
}

BatchProgressPoller::~BatchProgressPoller() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void BatchProgressPoller::loop() {
  ConnectOptions options;
  options.command_timeout = std::chrono::milliseconds(2000);
  Connection c(endpoint_, options);
  struct Counts {
    long long done = 0, total = 0;
  };
  std::vector<Counts> last(joins_.size());
  std::vector<std::vector<std::string>> commands;
  for (const auto& k : joins_) {
    commands.push_back({"SCARD", k + ":dependencies"});
    commands.push_back({"HLEN", k + ":processed"});
    commands.push_back({"HLEN", k + ":failed"});
  }
  std::unique_lock lock(mutex_);
  do {
    lock.unlock();
    auto replies = c.pipeline(commands);
    lock.lock();
    if (!replies || replies->size() != commands.size()) continue;
    long long done = 0, total = 0;
    for (std::size_t i = 0; i < joins_.size(); ++i) {
      const auto& r = *replies;
      const long long pending = r[3 * i].integer, ok = r[3 * i + 1].integer, failed = r[3 * i + 2].integer;
      last[i].done = std::max(last[i].done, ok + failed);
      last[i].total = std::max(last[i].total, ok + failed + pending);
      done += last[i].done;
      total += last[i].total;
    }
    progress_->items_total.store(total, std::memory_order_relaxed);
    progress_->items_done.store(done, std::memory_order_relaxed);
  } while (!wake_.wait_for(lock, every_, [this] { return stopping_; }));
}

}  // namespace am2z::redis
