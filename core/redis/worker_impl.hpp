#pragma once
// The worker's insides, shared by its parts: worker.cpp (the dispatch loop: one step-script call
// finishes, continues and fetches), worker_steps.cpp (reading and running a job, turning its end
// into operations) and worker_housekeeping.cpp (markers, locks, stalled jobs, cancellations,
// heartbeat). Only these files include it.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/redis/connection.hpp"
#include "core/redis/job_codec.hpp"
#include "core/redis/job_input.hpp"
#include "core/redis/key_space.hpp"
#include "core/redis/worker.hpp"

namespace am2z::redis {

namespace detail {

using Clock = std::chrono::steady_clock;

/// Milliseconds since the Unix epoch, as Redis job fields hold time.
inline long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// am2z job ids are "r<run>.<node path>[~scope]": the run, without parsing the job.
inline std::string run_of(const std::string& id) {
  if (id.size() < 3 || id.front() != 'r') return {};
  const auto dot = id.find('.');
  return dot == std::string::npos ? std::string() : id.substr(1, dot - 1);
}

/// What one queue is for: a processor instance of a flow, or that flow's joins.
struct Binding {
  std::string name;  ///< queue name
  std::string keys;  ///< "bull:<name>:"
  std::shared_ptr<const PlannedFlow> flow;
  std::shared_ptr<const ProcessorInstance> instance;  ///< null for a join queue
  std::unique_ptr<Planner> planner;
  long long next_due = -1;  ///< earliest delayed job, ms; -1 none known
  bool maybe_ready = true;
  std::chrono::steady_clock::time_point disabled_until{};  ///< a key of the queue is corrupt: skipped till then
};

/// The outcome of one job, handed from a pool thread to the dispatcher.
struct Finished {
  FetchedJob job;
  Binding* binding = nullptr;
  std::optional<Envelope> envelope;
  Result<State> outcome{State{}};
  long long processed_on = 0;
  long long attempt = 1;  ///< the attempt that just ran
  int max_attempts = 1;
  Json backoff;                         ///< BullMQ backoff option of a foreign job
  Json opts;                            ///< the job\'s options (retention)
  const RetryPolicy* policy = nullptr;  ///< am2z jobs: the instance's retry policy
  bool interrupted = false;             ///< stopped by shutdown: goes back to wait, attempt not counted
  /// The envelope cannot place the job in this flow: its run gets the failure as its outcome
  /// directly, and nothing of its flow is scheduled.
  bool tell_run_directly = false;
};

/// One job running on the pool.
struct Active {
  std::string lock_key;
  std::string token;
  std::string stalled_key;
  std::string id;
  std::string run;
  Clock::time_point renewed;
  std::shared_ptr<CancelSource> cancel;
};

}  // namespace detail

struct Worker::Impl {
  using Binding = detail::Binding;
  using Finished = detail::Finished;
  using Active = detail::Active;

  WorkerOptions options;
  KeySpace space;  ///< every key, from options.prefix
  std::vector<std::shared_ptr<const PlannedFlow>> flows;
  std::map<std::string, std::unique_ptr<Binding>> bindings;  ///< by key prefix
  std::shared_ptr<spdlog::logger> log;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Finished> finished;
  std::set<std::string> signalled;                 ///< queues whose marker popped
  std::map<std::string, long long> signalled_due;  ///< queues whose delay marker popped, and when due
  std::map<std::string, Active> active;            ///< by job key
  std::atomic<long long> completed{0}, failed{0}, retried{0};
  std::unordered_set<std::string> cancelled_runs;
  std::atomic<bool> stopping{false};
  long long call_seq = 0;
  std::string token_base;
  std::vector<OpGroup> unsent;               ///< ended jobs' operations Redis has not applied yet
  std::map<std::string, Active> unsent_locks;  ///< their locks, renewed until it has
  std::size_t fetch_rotation = 0;

  std::vector<std::string> step_header(long long now, int fetch_budget);
  bool accept_reply(const Reply& reply, const std::vector<Binding*>& fetched_from, int fetch_budget);
  void dispatch(FetchedJob job, Binding* b);
  void isolate_failure(Connection& c, const std::vector<Binding*>& fetched_from);

  Status serve(const CancelToken& stop);
  void waker_loop(Connection& blocker);
  void run_leaf(FetchedJob job, Binding* b);
  void finish_ops(Finished& f, OpList& ops);
  void leaf_failed(Finished& f, Error e, OpList& ops);
  void settle_join(FetchedJob& job, Binding* b, OpList& ops);
  Status check_envelope(const FetchedJob& job, const Binding& b, const Envelope& env) const;
  JobLimits limits() const { return JobLimits{options.max_job_bytes, kMaxJsonDepth}; }
  void refresh_cancelled(Connection& c);
  void renew_locks(Connection& c);
  void stalled_check(Connection& c);
  void heartbeat(Connection& c, bool alive);
  void announce();

  /// One idle connection per served queue, named as BullMQ names its workers' connections, so
  /// Queue.getWorkers() and Bull Board list this worker.
  std::vector<std::unique_ptr<Connection>> named;
};

}  // namespace am2z::redis
