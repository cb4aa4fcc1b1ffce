#pragma once
// One look at a deployment for `am2z stats`: its queues, live workers and sessions, with totals,
// and the three ways it is printed (JSON, an 80-column table, one summary line for logs).
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/redis/live_workers.hpp"
#include "core/redis/queue_stats.hpp"
#include "core/redis/sessions.hpp"

namespace am2z::redis {

/// How many sessions a snapshot lists, most recently active first (`am2z session list` has all).
inline constexpr std::size_t kStatsSessions = 10;

/// Everything `am2z stats` shows, as of taken_at_ms.
struct Snapshot {
  long long taken_at_ms = 0;  ///< Unix ms; the end of the last-minute window
  std::string redis;          ///< the endpoint as displayed (no password)
  std::string prefix;
  std::size_t sample_cap = kStatsSampleCap;  ///< most jobs per queue read for durations
  std::vector<QueueStats> queues;            ///< sorted by name
  std::vector<LiveWorker> workers;
  std::vector<SessionSummary> sessions;  ///< the most recently active ones (kStatsSessions)
  long long sessions_total = 0;         ///< how many the index holds
  QueueStats totals;                   ///< every queue's counts and samples together
};

/// Reads a snapshot of `keys`' deployment: queues, their counts and window, live workers.
Result<Snapshot> take_snapshot(Connection& c, const KeySpace& keys, const QueueStatsOptions& options = {});

/// The snapshot as one JSON object; its field names are documented in README ("Stats").
Json to_json(const Snapshot& s);
/// Aligned tables that fit an 80-column terminal: a queue name too long for its column gets a line
/// of its own; a worker's long name or host is shortened (JSON has them whole).
std::string to_text(const Snapshot& s);
/// One line for logs and pipes: time, totals, workers, throughput and latency.
std::string summary_line(const Snapshot& s);

}  // namespace am2z::redis
