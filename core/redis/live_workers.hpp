#pragma once
// Who serves a deployment right now, from the heartbeats workers keep under KeySpace::worker
// (a key that expires when its worker stops beating): what `am2z stats` lists and what
// `run --redis` checks before submitting into queues nobody serves.
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/planner.hpp"

namespace am2z::redis {

/// One worker's last heartbeat.
struct LiveWorker {
  std::string name;
  std::string host;
  long long pid = 0;
  long long concurrency = 0;
  long long active = 0;      ///< steps running at the last beat
  long long completed = 0;   ///< steps completed since it started
  long long failed = 0;      ///< steps failed for good since it started
  long long started_ms = 0;  ///< Unix ms when it started; 0 if its beat does not say
  long long seen_ms = 0;     ///< Unix ms of the beat
  std::vector<std::string> queues;
  Json beat;  ///< the heartbeat as written, for --json
};

/// Every live worker of `keys`' deployment, by name. A heartbeat that is not a JSON object
/// (written by something else) is skipped with a warning, never fatal.
Result<std::vector<LiveWorker>> live_workers(Connection& c, const KeySpace& keys);

/// Those of `queues` that no worker in `workers` lists.
std::vector<std::string> unserved(const std::vector<std::string>& queues, const std::vector<LiveWorker>& workers);

}  // namespace am2z::redis
