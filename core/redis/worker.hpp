#pragma once
// `am2z worker`: serves the queues of the flows it loaded. One dispatcher thread talks to Redis
// (one step-script call finishes every job that ended, schedules what follows and fetches new
// jobs), processors run on the engine's task pool, and a second connection blocks on the queues'
// marker keys so an idle worker wakes as soon as a job is added.
#include <spdlog/logger.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/cancel.hpp"
#include "core/redis/planner.hpp"
#include "core/redis/redis_url.hpp"

namespace am2z::redis {

struct WorkerOptions {
  Endpoint endpoint;
  std::string prefix = "bull";
  int concurrency = 8;
  std::chrono::milliseconds lock_duration{30000};
  std::chrono::milliseconds stalled_interval{30000};
  int max_stalled = 1;
  std::chrono::milliseconds grace{30000};     ///< SIGTERM: how long active jobs may finish
  std::chrono::milliseconds idle_poll{1000};  ///< longest block on the markers
  bool keep_completed = true;                 ///< false: delete a job when it completes
  bool keep_failed = true;
  long long max_events = 10000;  ///< events stream MAXLEN (approximate)
  bool all_events = false;       ///< also added/waiting/active events (BullMQ writes them always)
  std::size_t max_job_bytes = 16u << 20;  ///< a bigger job (data + opts) fails unrun; so does a bigger result
  int max_call_depth = 10;                ///< nested ctx.call depth allowed inside one step
  std::string name;              ///< shown as "processed by"; default host:pid
  std::shared_ptr<spdlog::logger> logger;
};

struct WorkerStats {
  long long completed = 0;
  long long failed = 0;
  long long retried = 0;
};

class Worker {
 public:
  /// Fails with a ConfigurationError when two flows claim the same queue.
  static Result<std::unique_ptr<Worker>> create(WorkerOptions options,
                                                std::vector<std::shared_ptr<const PlannedFlow>> flows);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Serves until `stop` fires, then finishes active jobs within the grace period and returns
  /// the rest to their queues. Fails at once when Redis cannot be reached at start.
  Status run(const CancelToken& stop);
  WorkerStats stats() const;
  /// Names of the queues served, for logs and the heartbeat.
  std::vector<std::string> queues() const;

  struct Impl;

 private:
  explicit Worker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace am2z::redis
