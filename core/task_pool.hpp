#pragma once
// An elastic pool: reuses idle threads, starts a new one when all are busy, retires idle ones.
// Blocking steps (sleep, exec) in parallel branches therefore really run at the same time, and
// a branch waiting for its own children can never starve the pool. The process shares one; a
// worker or a run may be given its own (to keep its threads apart, or to wait for them).
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

  TaskPool() = default;
  /// Runs what was submitted and waits until every thread has finished (a task still running,
  /// such as a step abandoned after a timeout, delays it).
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void submit(Task task);
  std::size_t threads() const;

 private:
  void worker_loop();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable all_gone_;  ///< the destructor's: the last thread left
  std::vector<Task> queue_;
  std::size_t idle_ = 0;
  std::size_t threads_ = 0;
  bool closing_ = false;
};

}  // namespace am2z
