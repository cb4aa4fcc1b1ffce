#pragma once
// `am2z worker`: serves the queues of the flows it loaded. One dispatcher thread talks to Redis
// (one step-script call finishes every job that ended, schedules what follows and fetches new
// jobs), processors run on a task pool, and a second connection blocks on the queues' marker
// keys so an idle worker wakes as soon as a job is added. Flows can be added and removed while
// it serves.
#include <spdlog/logger.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/cancel.hpp"
#include "core/redis/planner.hpp"
#include "core/redis/redis_url.hpp"
#include "core/redis/worker_observer.hpp"

namespace am2z {
class TaskPool;
}

namespace am2z::redis {

/// The default --prefetch is -c, but no less than this: enough for the calls at a small -c to
/// carry a dozen jobs each (worker_bindings.cpp says why).
inline constexpr int kDefaultPrefetchAtLeast = 16;

struct WorkerOptions {
  Endpoint endpoint;
  std::string prefix = "bull";
  int concurrency = 8;  ///< steps run at once
  /// Step jobs taken beyond `concurrency`, to wait here for a slot, so one call fetches a whole
  /// round: only of queues whose steps are instant or ran under 2 ms on average lately, never of
  /// one under a limit across workers, and none while jobs wait in a queue's prioritized set
  /// (named sessions' fair turns, BullMQ priorities). 0: a worker holds no more jobs than it
  /// runs; -1: as many as `concurrency`, and at least kDefaultPrefetchAtLeast.
  int prefetch = -1;
  /// With prefetch: a queue's steps count as short while their moving average stays under this.
  std::chrono::microseconds prefetch_below{2000};
  std::chrono::milliseconds lock_duration{30000};
  std::chrono::milliseconds stalled_interval{30000};
  int max_stalled = 1;
  std::chrono::milliseconds grace{30000};  ///< SIGTERM: how long active jobs may finish
  /// A step job of another version of a served flow (a rolling deployment) goes back to the
  /// queue for a worker that has that version, until it is this old; then it fails. 0: fails at once.
  std::chrono::milliseconds version_wait{60000};
  std::chrono::milliseconds idle_poll{1000};  ///< longest block on the markers
  bool keep_completed = true;                 ///< false: delete a job when it completes
  bool keep_failed = true;
  long long max_events = 10000;           ///< events stream MAXLEN (approximate)
  bool all_events = false;                ///< also added/waiting/active events (BullMQ writes them always)
  std::size_t max_job_bytes = 16u << 20;  ///< a bigger job (data + opts) fails unrun; so does a bigger result
  int max_call_depth = 10;                ///< nested ctx.call depth allowed inside one step
  std::string name;                       ///< shown as "processed by"; default host:pid
  std::shared_ptr<spdlog::logger> logger;

  /// How often the worker writes its heartbeat key and pings its named connections.
  std::chrono::milliseconds heartbeat_interval{5000};
  /// How long the heartbeat key outlives the last beat (a dead worker vanishes after this).
  std::chrono::milliseconds heartbeat_ttl{15000};
  /// How often the list of cancelled runs is read (how soon a cancelled run's steps stop).
  std::chrono::milliseconds cancel_refresh{1000};
  /// Runs cancelled this long ago or less are still refused.
  std::chrono::milliseconds cancelled_window{kCancelledMemory};
  /// Extra wait for a marker block's reply beyond idle_poll before the connection counts as dead.
  std::chrono::milliseconds block_margin{2000};
  /// First and longest pause before trying Redis again after a failed call (doubling between).
  std::chrono::milliseconds redis_backoff_min{50};
  std::chrono::milliseconds redis_backoff_max{2000};
  /// How long a queue with a key of the wrong type is skipped before it is tried again.
  std::chrono::milliseconds corrupt_queue_pause{30000};
  /// Jobs that take microseconds end in bursts: the dispatcher waits this long for the rest of a
  /// burst so one Redis call records it all.
  std::chrono::microseconds burst_wait{300};
  /// Runs the steps (and their parallel branches, batch items and timeouts); null: the process's
  /// shared TaskPool.
  std::shared_ptr<TaskPool> pool;
  /// Told of every job's start and end (see WorkerObserver); none by default.
  std::vector<std::shared_ptr<WorkerObserver>> observers;
};

/// A worker's name when WorkerOptions::name is empty: host:pid.
std::string default_worker_name();

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
  /// Starts serving `flow`'s queues (at once if run() is serving). Thread-safe. Fails with a
  /// ConfigurationError, and serves nothing of it, when one of its queues is another flow's.
  Status add_flow(std::shared_ptr<const PlannedFlow> flow);
  /// Stops fetching from the queues of the flow named `flow_name`; its running jobs finish and
  /// are recorded as usual. Thread-safe. A ConfigurationError when no such flow is served.
  Status remove_flow(const std::string& flow_name);
  WorkerStats stats() const;
  /// Names of the queues served, for logs and the heartbeat.
  std::vector<std::string> queues() const;

  struct Impl;

 private:
  explicit Worker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace am2z::redis
