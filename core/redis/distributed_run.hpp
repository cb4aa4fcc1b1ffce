#pragma once
// Distributed runs as a library, the Redis counterpart of run_flow (core/runner.hpp): submit a
// run of a planned flow to whatever workers serve the Redis, wait for its outcome, cancel it, or
// read it later from any process. Built on the submitter's primitives; the CLI only prints what
// these return.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "core/cancel.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/planner.hpp"

namespace am2z::redis {

/// How a run is submitted.
struct DistributedRunOptions {
  std::string session;  ///< empty: the input's metadata.sessionId, else generated
  /// How long the outcome stays readable; 0: forever.
  std::chrono::milliseconds result_ttl{std::chrono::hours(24)};
  std::size_t max_input_bytes = 0;  ///< 0: unchecked; else see check_input_size
  bool all_events = false;          ///< also write BullMQ's added/waiting events for the jobs
  /// How long the session's index lives once none of its runs is running; 0: forever.
  std::chrono::milliseconds session_ttl{std::chrono::hours(24)};
  bool events = false;  ///< workers publish the run's events (read them with read_events)
  long long priority = 0;              ///< SubmitOptions::priority
  std::chrono::milliseconds delay{0};  ///< SubmitOptions::delay
  bool keep_record = true;             ///< SubmitOptions::keep_record
  std::string resume_of;               ///< SubmitOptions::resume_of
};

/// A submitted run: everything wait, cancel and outcome need. Plain data, so a run submitted by
/// another process is reached through attach().
struct RunHandle {
  KeySpace keys;  ///< the deployment's keys (--prefix): where the outcome and cancellation live
  std::string run_id;
  std::string session;    ///< the run's session; empty when attached
  std::string reply_key;  ///< the list the outcome is pushed to
  std::string flow;       ///< the flow's name, for the caller's timeout error; empty when attached
  std::chrono::milliseconds result_ttl{std::chrono::hours(24)};
  std::shared_ptr<const Json> input;  ///< the input as JSON: a give-up error's partial state; may be null
  Deadline started{};                 ///< when submission began (or attach): wait timeouts count from here
};

/// A run's outcome as its reply list holds it; the state stays JSON, exactly as the worker wrote it.
struct DistributedOutcome {
  std::string run_id;
  Json state;                  ///< the final state ({"metadata": ..., ...data}) when the run succeeded
  std::optional<Error> error;  ///< set when the run failed, timed out or was cancelled
  bool ok() const { return !error.has_value(); }
};

/// How long and on what terms wait() waits.
struct WaitOptions {
  std::optional<Millis> timeout;  ///< counted from RunHandle::started; nullopt: no limit
  CancelToken cancel;             ///< external cancellation, e.g. Ctrl-C
  /// On giving up (timeout or cancellation): true ends the run with that error as its outcome;
  /// false leaves the run alone and fails with the TimeoutError or CancelledError.
  bool end_run_on_give_up = true;
};

/// A ValidationError when `input` as JSON is longer than `max_bytes`, the workers' job limit
/// (--max-job-size): such a run could only fail, so it is refused before anything is written.
Status check_input_size(const State& input, std::size_t max_bytes);

/// Submits a run of `flow` on `input`. Fails with check_input_size's error, or with why Redis
/// refused the submission.
Result<RunHandle> submit(Connection& c, const PlannedFlow& flow, State input, const DistributedRunOptions& options);

/// A handle on a run submitted elsewhere, by id (its outcome is read from keys.run_result).
RunHandle attach(const KeySpace& keys, std::string run_id);

/// Waits until the run has an outcome, the timeout passes or `options.cancel` fires. On giving up
/// with end_run_on_give_up, the run is cancelled and the outcome is the caller's error (a
/// TimeoutError naming the flow and timeout, or the CancelledError) carrying the input as partial
/// state and the runId in its context; it is recorded as the run's outcome unless a worker
/// recorded one first. Fails only when the outcome cannot be learned (Redis lost for over a
/// minute, a malformed outcome, or a give-up without end_run_on_give_up).
Result<DistributedOutcome> wait(Connection& c, const RunHandle& run, const WaitOptions& options);

/// Ends the run with `why` as its outcome (unless it has one already); workers stop its running
/// steps and start nothing more of it.
Status cancel(Connection& c, const RunHandle& run, const Error& why);

/// The outcome without waiting: nullopt while the run is going (or its outcome expired).
Result<std::optional<DistributedOutcome>> outcome(Connection& c, const RunHandle& run);

}  // namespace am2z::redis
