#pragma once
// Submitting runs and waiting for their outcome through Redis, so that any worker anywhere can
// finish any job: the last step pushes the outcome to the run's reply list, which the waiter
// reads with a blocking command (never by polling, never through one process's memory).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/cancel.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/planner.hpp"

namespace am2z::redis {

struct SubmitOptions {
  std::string session;  ///< empty: the input's metadata.sessionId, else generated
  /// List the outcome is pushed to; empty: the run's result key (KeySpace::run_result), kept for
  /// `result_ttl`.
  std::string reply_key;
  std::chrono::milliseconds result_ttl{24 * 3600 * 1000};  ///< 0: the reply list never expires
  bool all_events = false;  ///< write added/waiting events for the jobs (BullMQ writes them always)
  /// How long the session's index lives once none of its runs is running; 0: forever.
  std::chrono::milliseconds session_ttl{std::chrono::hours(24)};
  bool events = false;  ///< workers publish the runs' events to KeySpace::events()
  long long priority = 0;   ///< the runs' BullMQ priority (Envelope::priority); 0: none
  std::chrono::milliseconds delay{0};  ///< no step of the runs starts sooner than this
  /// Keep what resuming a run needs (KeySpace::run_record): its input, flow and session, one
  /// hash per run, expiring with its outcome. `am2z run --redis` keeps it.
  bool keep_record = false;
  /// Envelope::resume_of: a resumed run takes the results of that run's completed steps.
  std::string resume_of;
};

struct Submission {
  std::string run_id;
  std::string reply_key;
  std::string session;  ///< the run's session: given, from the input, or generated
};

/// Enqueues the first jobs of a run of `flow` in one atomic call. Runs that end before any job
/// (a route at the root with no match) push their outcome at once, like any other.
Result<Submission> submit_run(Connection& c, const PlannedFlow& flow, State input, const SubmitOptions& options);

/// Enqueues many runs of `flow` in one atomic call (their outcomes go to their own reply lists,
/// or all to `options.reply_key`).
Result<std::vector<Submission>> submit_runs(Connection& c, const PlannedFlow& flow, std::vector<State> inputs,
                                            const SubmitOptions& options);

/// Sends what plan_run (or other planning) put in `ops`, in calls of bounded size (op_chunks.hpp).
Status send_planned(Connection& c, const PlannedFlow& flow, OpList& ops, long long now, bool all_events = false);

/// Plans the start of one run `run_id` of `flow` into `ops` (a group of its own): what
/// submit_runs sends for each input, `now` being the caller's clock (ms).
Submission plan_run(const PlannedFlow& flow, State input, const SubmitOptions& options, long long now,
                    std::string run_id, OpList& ops);

/// Waits for the outcome payload ({"run", "ok", "state"|"error"}) on `reply_key` until `deadline`
/// or cancellation; leaves it in place, so `am2z result` can read it again. Rides out a Redis
/// restart (reconnecting for up to a minute). A TimeoutError or CancelledError when it gives up.
Result<Json> wait_outcome(Connection& c, const std::string& reply_key, std::optional<Deadline> deadline,
                          const CancelToken& cancel);

/// The outcome if the run has finished, nullopt if not (yet), or an error.
Result<std::optional<Json>> read_outcome(Connection& c, const std::string& reply_key);

/// Ends a run with `why` as its outcome (unless it already has one) and marks it cancelled:
/// workers stop its running steps within about a second, fail its queued steps without running
/// them and schedule nothing more for it. `session` (empty: unknown) counts the end.
Status cancel_run(Connection& c, const KeySpace& keys, const std::string& run_id, const std::string& session,
                  const Error& why, std::chrono::milliseconds result_ttl = std::chrono::hours(24));

/// cancel_run for many runs of one session in one script call.
Status cancel_runs(Connection& c, const KeySpace& keys, const std::vector<std::string>& run_ids,
                   const std::string& session, const Error& why,
                   std::chrono::milliseconds result_ttl = std::chrono::hours(24));

/// Milliseconds since the Unix epoch.
long long unix_ms();

}  // namespace am2z::redis
