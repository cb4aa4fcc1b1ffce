#pragma once
// What the queues of a deployment hold, read from BullMQ's own keys at the moment it is asked:
// which queues exist, how many jobs each has in each state, and how many finished in the last
// minute and how long their steps took. Nothing is recorded for it beforehand, so it also covers
// queues only BullMQ clients use, and jobs removed when they ended are not counted.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/redis/connection.hpp"
#include "core/redis/key_space.hpp"

namespace am2z::redis {

/// The window throughput and step latency are measured over.
inline constexpr std::chrono::milliseconds kStatsWindow{60'000};
/// At most this many jobs per queue are read for step durations, so a huge queue stays quick.
inline constexpr std::size_t kStatsSampleCap = 10'000;

/// How many jobs of a queue are in each BullMQ state.
struct QueueCounts {
  long long waiting = 0;  ///< the wait and paused lists
  long long active = 0;
  long long delayed = 0;
  long long prioritized = 0;
  long long waiting_children = 0;
  long long completed = 0;
  long long failed = 0;

  QueueCounts& operator+=(const QueueCounts& o);
};

/// Jobs that finished within kStatsWindow before the snapshot, and their step durations.
struct WindowStats {
  long long completed = 0;  ///< exact: from the completed set's finishedOn scores
  long long failed = 0;     ///< exact: from the failed set's
  /// finishedOn - processedOn (ms, the last attempt) of the most recently finished jobs, at most
  /// the sample cap per queue; sorted ascending.
  std::vector<long long> durations_ms;

  long long finished() const { return completed + failed; }
  /// Jobs finished per second over the window.
  double jobs_per_second() const;
  /// The p-th percentile (0 < p <= 100, nearest rank) of the sampled durations; none without samples.
  std::optional<long long> percentile_ms(double p) const;
  /// Adds `o`'s counts and samples (kept sorted).
  WindowStats& operator+=(const WindowStats& o);
};

/// One queue's counts and last window.
struct QueueStats {
  std::string name;
  QueueCounts counts;
  WindowStats window;
};

/// Every queue of `keys`' deployment that has a BullMQ queue-level key (meta, id, events, a state
/// list or set...), sorted: found by one SCAN walk over the prefix, which never blocks Redis but
/// takes time in proportion to the keys under the prefix. am2z's own keys are never a queue.
Result<std::vector<std::string>> discover_queues(Connection& c, const KeySpace& keys);

/// Options of queue_stats, for tests; the defaults are what `am2z stats` uses.
struct QueueStatsOptions {
  std::size_t sample_cap = kStatsSampleCap;
  long long now_ms = 0;  ///< end of the window (Unix ms); 0: this machine's clock
};

/// Counts (every queue in one pipeline) and the last window of each of `queues`.
Result<std::vector<QueueStats>> queue_stats(Connection& c, const KeySpace& keys, const std::vector<std::string>& queues,
                                            const QueueStatsOptions& options = {});

}  // namespace am2z::redis
