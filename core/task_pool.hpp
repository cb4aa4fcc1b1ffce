#pragma once
// An elastic pool: reuses idle threads, starts a new one when all are busy, retires idle ones.
// Blocking steps (sleep, exec) in parallel branches therefore really run at the same time, and
// a branch waiting for its own children can never starve the pool.
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <vector>

namespace am2z {

class TaskPool {
 public:
  using Task = std::move_only_function<void()>;

  /// The process-wide pool. Never destroyed, so a step abandoned after a timeout cannot block exit.
  static TaskPool& shared();

  void submit(Task task);
  std::size_t threads() const;

 private:
  TaskPool() = default;
  void worker_loop();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Task> queue_;
  std::size_t idle_ = 0;
  std::size_t threads_ = 0;
};

}  // namespace am2z
