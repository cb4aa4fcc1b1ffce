#include "core/guarded.hpp"

#include <condition_variable>
#include <mutex>

#include "core/task_pool.hpp"

namespace am2z {

namespace {
/// What the caller and the detached work share; it outlives whichever side finishes first.
struct GuardBlock {
  explicit GuardBlock(const CancelToken& parent) : source(parent) {}
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  State state;
  Status status;
  CancelSource source;
  std::shared_ptr<detail::RunShared> run;  // keeps the run (and its flow) alive for abandoned work
};
}  // namespace

Deadline deadline_after(const Scope& scope, Millis timeout) {
  const Deadline own = SteadyClock::now() + timeout;
  return own < scope.deadline ? own : scope.deadline;
}

Status run_guarded(const NodeBody& body, State& state, const Scope& scope, Deadline deadline, const std::string& what,
                   Millis timeout) {
  auto block = std::make_shared<GuardBlock>(*scope.token);
  block->state = state;
  block->run = scope.run->shared_from_this();
  Scope inner = scope;
  inner.deadline = deadline;

  scope.run->tasks().submit([block, body, inner]() mutable {
    const CancelToken token = block->source.token();
    inner.token = &token;
    Status st = body(block->state, inner);
    {
      std::lock_guard lock(block->mutex);
      block->status = std::move(st);
      block->done = true;
    }
    block->cv.notify_all();
  });

  const CancelToken token = block->source.token();
  CancelRegistration wake = token.on_cancel([weak = std::weak_ptr<GuardBlock>(block)] {
    if (auto b = weak.lock()) {
      std::lock_guard lock(b->mutex);
      b->cv.notify_all();
    }
  });
  std::unique_lock lock(block->mutex);
  auto settled = [&] { return block->done || token.cancelled(); };
  if (deadline == kNoDeadline) {
    block->cv.wait(lock, settled);
  } else {
    block->cv.wait_until(lock, deadline, settled);
  }
  if (block->done) {
    state = std::move(block->state);
    // The body sees this deadline too (ctx.deadline()), so a step that watches it can report the
    // timeout in its own words a moment before we do: its own name instead of `what`, a budget
    // measured from its own start ("'nap' timed out after 299ms" for a 300ms run timeout). A
    // deadline that is ours is reported as ours, whichever side noticed it first.
    const Status& st = block->status;
    if (!st && st.error().category == ErrorCategory::timeout && deadline < scope.deadline &&
        SteadyClock::now() >= deadline) {
      return fail(errors::timeout(what, timeout.count()));
    }
    return std::move(block->status);
  }
  lock.unlock();
  wake.reset();
  if (token.cancelled()) return fail(errors::cancelled(token.reason()));
  Error e = errors::timeout(what, timeout.count());
  block->source.cancel(e.message);
  return fail(std::move(e));
}

}  // namespace am2z
