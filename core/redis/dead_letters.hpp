#pragma once
// Dead letters: am2z steps that failed for good (their retries exhausted, or an error no retry
// helps), as BullMQ keeps them: in their queue's `failed` set, where Bull Board shows them too.
// This reads them across every queue of a deployment, with their runs, and handles them: a retry
// resumes the step's run (run --resume), so the run's outcome stays the run's one outcome and the
// new run has its own; the dead step is then marked with the run that retried it. Cancelled steps
// (a run stopped or timed out) are not dead letters: they did not fail.
#include <optional>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/key_space.hpp"

namespace am2z::redis {

/// Hash field of a dead step: the run that retried it (dlq retry).
inline constexpr const char* kRetriedByField = "am2zRetriedBy";

struct DeadStep {
  std::string queue;  ///< the queue's name, "<flow>.<instance>"
  std::string id;     ///< the job's id
  std::string run;    ///< the step's run
  std::string flow;
  std::string node;   ///< node path in the flow
  std::string scope;  ///< batch item indexes ("3", "3.1"), empty outside a batch
  std::string session;
  std::string step;   ///< the processor instance (the job's name)
  std::string reason;  ///< failedReason
  Json error;          ///< am2z's error JSON from the stacktrace; null when there is none
  long long attempts = 0;
  long long failed_at_ms = 0;
  std::string retried_by;  ///< the run that resumed it; empty while it is not retried

  /// "<queue>:<id>", how commands name it.
  std::string name() const { return queue + ":" + id; }
  Json to_json() const;
};

struct DeadLetterFilter {
  std::string session;  ///< empty: every session
  std::string flow;     ///< empty: every flow
  std::string run;      ///< empty: every run
  bool retried = false;  ///< also the steps already retried
  long long failed_before_ms = 0;  ///< 0: any time; else only steps that failed before
  std::size_t limit = 0;           ///< 0: all
};

/// The dead steps of every queue of the deployment, newest first, that pass `filter`. Jobs that
/// are not am2z steps (added by a BullMQ client, or a join) are left to Bull Board.
Result<std::vector<DeadStep>> list_dead_steps(Connection& c, const KeySpace& keys, const DeadLetterFilter& filter);

/// One dead step by name ("<queue>:<id>"), or by job id alone when one queue has it; nullopt when
/// no queue's failed set holds it as an am2z step. `data` gets the job's data (the step's input).
Result<std::optional<DeadStep>> find_dead_step(Connection& c, const KeySpace& keys, const std::string& name,
                                               std::string* data = nullptr);

/// Marks the step as retried by run `by`.
Status mark_retried(Connection& c, const KeySpace& keys, const DeadStep& step, const std::string& by);

/// Deletes the dead step (its job hash and logs, its place in the failed set); false when it was
/// no longer in the failed set (retried by a BullMQ client, or purged meanwhile).
Result<bool> purge_dead_step(Connection& c, const KeySpace& keys, const DeadStep& step);

}  // namespace am2z::redis
