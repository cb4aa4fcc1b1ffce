#pragma once
// Every Redis key am2z reads or writes, named in one place and derived from the deployment's
// prefix (BullMQ's `prefix` option, --prefix). Queue keys are BullMQ's "<prefix>:<queue>:<kind>";
// am2z's own keys (run outcomes, cancelled runs, worker heartbeats) live under an "am2z" root of
// the same deployment, so two deployments with different prefixes on one Redis never see each
// other's runs, cancellations or workers.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace am2z::redis {

/// Hash field the step script sets (to the job's size) on an oversized job it returns without data.
inline constexpr const char* kOversizeField = "am2z:oversize";

/// About how many events the events stream keeps; lua/step.lua has the same. An entry holds the
/// events of one script call (at most 500) and each XADD trims the stream to about
/// kEventsRetention / (its own events) entries (MAXLEN ~, at least 100): steady call sizes keep
/// about kEventsRetention events, varying ones at worst a few times that.
inline constexpr long long kEventsRetention = 100'000;

/// How long a cancelled run stays in the cancelled set: longer than any step waits to learn of it.
inline constexpr std::chrono::hours kCancelledMemory{1};

class KeySpace {
 public:
  /// The default prefix "bull" keeps am2z's own keys at "am2z:..." (where they have always been);
  /// any other prefix P puts them under "P:am2z:...", beside P's queues (and in their hash slot
  /// when P is a hash tag such as "{tenant}").
  explicit KeySpace(std::string prefix = "bull");

  const std::string& prefix() const { return prefix_; }

  // Queues. A queue name is "<flow>.<instance>" per processor instance of a flow and
  // "<flow>._join" for its joins; instance names never start with '_', so they cannot collide.
  std::string processor_queue(const std::string& flow, const std::string& instance) const {
    return flow + "." + instance;
  }
  std::string join_queue(const std::string& flow) const { return flow + "._join"; }
  /// Key prefix of a queue, "<prefix>:<queue>:": every BullMQ key of the queue starts with it.
  std::string queue(std::string_view name) const;
  /// SCAN pattern of every key of every queue of the deployment (the prefix glob-escaped).
  std::string all_queue_keys() const;
  /// The queue a key "<prefix>:<queue>:<rest>" belongs to, and its rest; nullopt for any other key,
  /// am2z's own keys included (queue names never contain ':', so the split is unambiguous).
  std::optional<std::pair<std::string_view, std::string_view>> split_queue_key(std::string_view key) const;
  /// BullMQ's name for a worker's connection to `queue`, listed by Queue.getWorkers().
  std::string worker_client_name(std::string_view queue, std::string_view worker) const;

  // am2z's own keys.
  /// Root of am2z's own keys; a job's reply key must stay under it.
  const std::string& own() const { return own_; }
  /// A key in the hash slot of every key of the deployment when the prefix is a hash tag (for a
  /// Redis Cluster: Endpoint::slot_key). Nothing is stored under it.
  const std::string& slot_key() const { return own_; }
  /// Prefix of run outcome keys: no job may write under it except to its own run's key.
  std::string run_results() const { return own_ + "run:"; }
  /// A list whose head is the run's outcome.
  std::string run_result(std::string_view run_id) const;
  /// A hash of what resuming the run needs: input (JSON), flow, hash, session, submitted (ms),
  /// resumeOf; and "reused:<node path>" counts of the steps it took from the run it resumes.
  /// Written at submission; expires with the outcome (lua/step.lua, ops "I" and "O").
  std::string run_record(std::string_view run_id) const { return run_result(run_id) + ":record"; }
  /// Sorted set of cancelled runs, scored by when (ms); kept for kCancelledMemory.
  std::string cancelled_runs() const { return own_ + "cancelled"; }
  /// A worker's own wake-up key: its marker waker blocks on it beside the queues' markers, so
  /// that the worker's calls can make it look at other markers (a zset, popped as it fills).
  std::string waker(std::string_view worker_token) const { return own_ + "waker:" + std::string(worker_token); }
  /// A worker's heartbeat hash, expiring when the worker stops beating.
  std::string worker(std::string_view name) const;

  /// Stream of the lifecycle and custom events of runs submitted with events on (bounded: see
  /// kEventsRetention); each entry holds one step-script call's events in fields named "ev",
  /// each one or more events' JSON texts joined by newlines, in order.
  std::string events() const { return own_ + "events"; }

  // Sessions: an index over the queues (lua/step.lua keeps it; core/redis/sessions.hpp reads it).
  // step.lua derives these same names from run_results(): keep the two in step.
  /// Sorted set of sessions by last activity (ms).
  std::string sessions() const { return own_ + "sessions"; }
  /// A session's hash: first, last (ms), ttl, runs, completed, failed, cancelled, stopped.
  std::string session(std::string_view id) const { return own_ + "session:" + std::string(id); }
  /// Every run of the session, scored by submission (ms).
  std::string session_runs(std::string_view id) const { return session(id) + ":runs"; }
  /// Its runs without an outcome yet.
  std::string session_running(std::string_view id) const { return session(id) + ":running"; }
  /// Key prefixes ("bull:<queue>:") of the queues its runs put jobs on.
  std::string session_queues(std::string_view id) const { return session(id) + ":queues"; }

  // Schedules (core/redis/schedules.hpp; op "K" of lua/step.lua claims their occurrences).
  /// Sorted set of schedule ids by their next occurrence (ms).
  std::string schedules() const { return own_ + "schedules"; }
  /// A schedule's hash: flow, every (ms) or cron, input, session, created, next, last, fired,
  /// pending (the next occurrence's run) and pendingJobs (its first jobs).
  std::string schedule(std::string_view id) const { return own_ + "schedule:" + std::string(id); }

 private:
  std::string prefix_;
  std::string own_;
};

// Keys inside one queue, from its key prefix ("<prefix>:<queue>:").
inline std::string job_key(std::string_view queue_keys, std::string_view id) {
  return std::string(queue_keys).append(id);
}
inline std::string lock_key(std::string_view queue_keys, std::string_view id) {
  return job_key(queue_keys, id) + ":lock";
}
inline std::string queue_key(std::string_view queue_keys, std::string_view kind) {
  return std::string(queue_keys).append(kind);
}

}  // namespace am2z::redis
