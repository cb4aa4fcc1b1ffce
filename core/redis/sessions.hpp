#pragma once
// Sessions across machines: a session groups runs (a tenant, a CI pipeline, a user). Every
// distributed run is indexed under its session when submitted (lua/step.lua, op "N") and its end
// is counted there ("O"); this file reads that index and acts on it: list, per-queue stats, stop.
// The index lives under KeySpace::session*, over the shared queues: Bull Board reads the queues
// as before. An idle session's index (no running run) expires after its TTL.
#include <optional>
#include <string>
#include <vector>

#include "core/cancel.hpp"
#include "core/json.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/key_space.hpp"

namespace am2z::redis {

/// What the index says of one session.
struct SessionSummary {
  std::string id;
  long long first_ms = 0;  ///< first submission (Unix ms)
  long long last_ms = 0;   ///< last submission or run end
  long long runs = 0;      ///< submitted
  long long running = 0;   ///< submitted, no outcome yet
  long long completed = 0;
  long long failed = 0;
  long long cancelled = 0;
  long long stopped_ms = 0;  ///< when `session stop` last stopped it; 0: never
  long long ttl_ms = 0;      ///< idle expiry; 0: never
  Json to_json() const;
};

/// One queue's jobs that belong to the session's runs.
struct SessionQueue {
  std::string queue;  ///< queue name ("<flow>.<instance>", "<flow>._join")
  long long waiting = 0, active = 0, delayed = 0, prioritized = 0, waiting_children = 0;
  long long completed = 0, failed = 0;
  long long removed = 0;                 ///< by the scan that produced this (stop)
  long long completed_last_minute = 0;   ///< throughput over the last minute
  std::vector<long long> durations_ms;   ///< of steps completed in the last minute (a sample)
  /// Percentile `p` (0-100) of durations_ms; -1 when there is none.
  long long percentile(double p) const;
  Json to_json() const;
};

/// The `limit` most recently active sessions, newest first (every run without --session has a
/// session of its own, so there can be many); `total` gets how many the index holds. Index
/// entries whose keys expired are dropped.
Result<std::vector<SessionSummary>> list_sessions(Connection& c, const KeySpace& keys, std::size_t limit,
                                                  long long* total = nullptr);

/// One session's summary; nullopt when the index has no such session (never seen, or expired).
Result<std::optional<SessionSummary>> find_session(Connection& c, const KeySpace& keys, const std::string& id);

/// Per queue the session used: its jobs waiting, active, delayed, completed, failed, and steps
/// completed over the last minute with their durations (at most `max_samples` per queue).
Result<std::vector<SessionQueue>> session_queues(Connection& c, const KeySpace& keys, const std::string& id,
                                                 std::size_t max_samples = 10000);

/// What `stop_session` did.
struct StopReport {
  std::string session;
  bool found = false;
  std::vector<std::string> cancelled_runs;  ///< runs that were running and now end CANCELLED
  std::vector<SessionQueue> queues;         ///< removed = queued jobs deleted, then the rest purged
  long long removed = 0;                    ///< jobs deleted in all
  long long still_active = 0;               ///< steps still running when the grace ran out
  Json to_json() const;
};

/// Stops a session: every running run ends CANCELLED (its waiters see exit 130), its queued and
/// delayed jobs are deleted at once, its active steps are cancelled by their workers; after they
/// end (or `grace` passes) the session's remaining jobs are deleted too. Other sessions' jobs are
/// never touched. Idempotent: stopping again finds nothing to do.
Result<StopReport> stop_session(Connection& c, const KeySpace& keys, const std::string& id, Millis grace,
                                const CancelToken& cancel = {});

}  // namespace am2z::redis
