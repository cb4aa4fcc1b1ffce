#pragma once
// What a processor sees besides the state: identity, deadline, cancellation, events, nested calls.
#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/cancel.hpp"
#include "core/events.hpp"
#include "core/progress.hpp"
#include "core/result.hpp"
#include "core/state.hpp"

namespace am2z {

class Flow;
class StepJournal;
class TaskPool;

namespace detail {
/// Shared by every step of one run.
struct RunShared : std::enable_shared_from_this<RunShared> {
  std::string run_id;
  std::string session_id;
  std::shared_ptr<EventSink> events;  ///< null: nobody listens
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<const Flow> flow;  ///< for ctx.call by name; kept alive by abandoned steps too
  int max_call_depth = 10;
  TaskPool* pool = nullptr;  ///< where parallel branches, batch items and guarded steps run; null: shared
  std::atomic<std::uint64_t> next_step{1};
  /// run --run-dir: where succeeded steps are recorded, and results of a resumed run reused; null: none.
  std::shared_ptr<StepJournal> journal;
  /// Counts steps and batch items for a progress display; null: nobody shows progress.
  std::shared_ptr<RunProgress> progress;

  /// The run's task pool: `pool`, or TaskPool::shared().
  TaskPool& tasks() const;

  /// Set when the run's final event went out: a step abandoned after a timeout or Ctrl-C may
  /// still finish later, and its events must not follow flow:completed / flow:failed.
  bool closed = false;
  mutable std::mutex event_mutex;  ///< orders the final event after every other; events only

  /// Adds "event", "ts", "runId" and "sessionId" and hands the payload to the sink, unless the
  /// run is closed.
  void publish(std::string_view name, Json payload) const;
  /// Closes the run, then publishes its final event.
  void publish_final(std::string_view name, Json payload);

 private:
  void send(std::string_view name, Json payload) const;
};
}  // namespace detail

/// Where a node runs: the run, the cancellation in force, the deadline in force, the call depth.
struct Scope {
  detail::RunShared* run = nullptr;
  const CancelToken* token = nullptr;
  Deadline deadline = kNoDeadline;
  int depth = 0;
  /// Inside a batch, when the run keeps a journal: the item indexes on the way here ("3", "3.1").
  const std::string* item = nullptr;
};

/// Handed to Processor::process for one attempt of one step. It refers to `scope`, which must
/// outlive it (build it from a named Scope, never a temporary).
class Context {
 public:
  Context(const Scope& scope, std::string_view processor, std::uint64_t step, int attempt)
      : scope_(scope), processor_(processor), step_(step), attempt_(attempt) {}

  spdlog::logger& log() const { return *scope_.run->logger; }
  /// Publishes a custom event {event, processor, executionId, data}; free when nobody listens.
  void emit(std::string_view event, Json data = nullptr) const;
  bool events_enabled() const { return scope_.run->events != nullptr; }

  const std::string& session_id() const { return scope_.run->session_id; }
  const std::string& run_id() const { return scope_.run->run_id; }
  /// "<runId>/<step>": unique within the run; formatted only when asked for.
  std::string execution_id() const;
  std::string_view processor_name() const { return processor_; }
  int attempt() const { return attempt_; }
  int call_depth() const { return scope_.depth; }

  Deadline deadline() const { return scope_.deadline; }
  const CancelToken& cancel_token() const { return *scope_.token; }
  bool cancelled() const { return scope_.token->cancelled(); }

  /// Runs a named processor instance or sub-flow of this flow on `state` (one level deeper).
  /// Fails with CallDepthExceededError beyond the run's max call depth.
  Result<State> call(std::string_view name, State state) const;

  const Scope& scope() const { return scope_; }

 private:
  const Scope& scope_;
  std::string_view processor_;
  std::uint64_t step_;
  int attempt_;
};

}  // namespace am2z
