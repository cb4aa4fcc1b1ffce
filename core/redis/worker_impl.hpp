#pragma once
// The worker's insides, shared by its parts: worker.cpp (the public face and the dispatch loop:
// one step-script call finishes, continues and fetches), worker_bindings.cpp (which queues are
// served, changed while serving), worker_steps.cpp (reading and running a job, turning its end
// into operations), worker_foreign.cpp (jobs BullMQ clients added: their options, backoff and
// parents) and worker_housekeeping.cpp (markers, locks, stalled jobs, cancellations,
// heartbeat). Only these files include it.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
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
#include "core/redis/join_children.hpp"
#include "core/redis/key_space.hpp"
#include "core/redis/run_events.hpp"
#include "core/redis/worker.hpp"
#include "core/task_pool.hpp"

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

/// What one queue is for: a processor instance of a flow, or that flow's joins. Shared: a job
/// still running when its flow is removed keeps its binding (and planner) alive.
struct Binding {
  std::string name;  ///< queue name
  std::string keys;  ///< "bull:<name>:"
  std::shared_ptr<const PlannedFlow> flow;
  std::shared_ptr<const ProcessorInstance> instance;  ///< null for a join queue
  std::unique_ptr<Planner> planner;
  // The dispatcher's own bookkeeping, touched by no other thread:
  long long next_due = -1;       ///< earliest delayed job, ms; -1 none known
  long long limited_until = -1;  ///< a rate limit across workers holds its jobs back till then, ms
  bool maybe_ready = true;
  bool full = false;  ///< its last fetch took all it could: the next call fetches it again
  /// Its last fetch took nothing as jobs wait in prioritized and this worker could start none
  /// (it would have held them): it is asked again when a slot frees.
  bool held_back = false;
  bool skipped = false;  ///< the marker waker leaves its marker alone (Impl::update_waker_skip)
  /// While skipped, its delayed jobs come due unheard: promoted on a clock instead (when the
  /// worker has a free slot; other workers hear of them), ms.
  long long skip_promote_at = 0;
  std::chrono::steady_clock::time_point disabled_until{};  ///< a key of the queue is corrupt: skipped till then
  /// Moving average of how long its steps ran on the pool, us; -1 none yet (any thread writes it).
  std::atomic<long long> step_us{-1};
};

/// Bindings by key prefix.
using BindingMap = std::map<std::string, std::shared_ptr<Binding>>;

/// The outcome of one job, handed from a pool thread to the dispatcher.
struct Finished {
  FetchedJob job;
  std::shared_ptr<Binding> binding;
  std::optional<Envelope> envelope;
  Result<State> outcome{State{}};
  long long processed_on = 0;
  long long finished_on = 0;
  long long attempt = 1;  ///< the attempt that just ran
  int max_attempts = 1;
  Json backoff;                         ///< BullMQ backoff option of a foreign job
  Json opts;                            ///< the job\'s options (retention)
  const RetryPolicy* policy = nullptr;  ///< am2z jobs: the instance's retry policy
  bool interrupted = false;             ///< stopped by shutdown: goes back to wait, attempt not counted
  /// Held for a slot and given back by a worker that stopped: it never started, so the observers
  /// hear nothing of it (they hear of a step's start and then of its end).
  bool never_started = false;
  /// Built by another version of its flow, and young enough to wait for a worker that has it:
  /// goes back to the queue, delayed, attempt not counted (WorkerOptions::version_wait).
  bool other_version = false;
  /// The envelope cannot place the job in this flow: its run gets the failure as its outcome
  /// directly, and nothing of its flow is scheduled.
  bool tell_run_directly = false;
  /// What the step's processor emitted, when its run asked for events.
  std::shared_ptr<BufferedEvents> emitted;
  /// Set by plan_ahead() once the outcome succeeded: its JSON text and version (the outcome
  /// itself is moved into the planner) and what follows it in the flow (nothing for a foreign
  /// job), planned on the thread that produced the outcome.
  bool planned_ahead = false;
  /// The blob its data was read from when it was kept out of line (blobs.hpp): given the run's
  /// result TTL once the job ends.
  std::string data_blob;
  std::string value;
  long long version = 0;
  OpList continuation;
  /// A join whose children were read in chunks (a big batch): once its end is handed over, the
  /// memory it took goes back to the system (Worker::Impl::return_memory).
  bool big_join = false;
  /// A resumed run's step that took the result of the resumed run's job (lua/step.lua, op "A").
  bool reused = false;
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

/// Counts what ended, for Worker::stats() and the heartbeat: every worker's first observer.
struct StatsObserver final : WorkerObserver {
  std::atomic<long long> completed{0}, failed{0}, retried{0};
  void step_finished(const StepEvent&) override { ++completed; }
  void step_failed(const StepEvent&) override { ++failed; }
  void step_retried(const StepEvent& e) override {
    if (!e.interrupted) ++retried;
  }
};

/// The dispatcher's clocks and its shutdown progress.
/// The job a group of operations finishes: "G", op, queue, id, ...; "" for a submission's group.
inline std::string group_job_key(const OpGroup& g) {
  if (g.size() < 4 || (g[1] != "C" && g[1] != "F" && g[1] != "R")) return {};
  return g[2] + g[3];
}

/// A step-script call sent and not yet answered (worker_calls.cpp).
struct InFlight {
  std::vector<OpGroup> groups;  ///< the ended jobs' operations it carries: sent again if its reply is lost
  std::vector<std::shared_ptr<Binding>> fetched_from;
  int budget = 0;  ///< step jobs it may fetch: counted as held until its reply says what it took
  bool ended_some = false;
  std::string token_prefix;   ///< of the locks it takes: what to give back if its reply is lost
  Clock::time_point sent_at;  ///< for the observers' round-trip time
  int ahead_replies = 0;      ///< of the commands sent ahead of it (a staged outcome, blobs), read first
};

struct LoopTimers {
  Clock::time_point beat, cancel_refresh, renew, stalled, poll;
  Clock::time_point stop_deadline{};  ///< set when stopping begins
  bool grace_over = false;
  std::chrono::milliseconds redis_backoff{0};
};

}  // namespace detail

struct Worker::Impl {
  using Binding = detail::Binding;
  using Finished = detail::Finished;
  using Active = detail::Active;

  WorkerOptions options;
  KeySpace space;  ///< every key, from options.prefix
  std::shared_ptr<spdlog::logger> log;
  TaskPool* pool = nullptr;  ///< options.pool, or the shared pool
  std::shared_ptr<detail::StatsObserver> stats = std::make_shared<detail::StatsObserver>();
  std::vector<std::shared_ptr<WorkerObserver>> observers;  ///< stats first, then options.observers

  std::mutex mutex;
  std::condition_variable wake;        ///< the dispatcher's
  std::condition_variable waker_wake;  ///< the marker waker's, when it has no queue to block on
  /// Queues (key prefixes) whose markers the waker need not pop: a queue whose last fetch was full
  /// is fetched by the dispatcher's next call anyway (whenever a slot frees), and a pop meant to
  /// wake it (one per call when saturated) would be a round trip for nothing. Left in Redis, such
  /// markers wake other workers, or this one once its queue is watched again.
  std::set<std::string> waker_skip;
  std::uint64_t waker_skip_version = 0;
  std::set<std::string> waker_skipping;  ///< what the waker's blocking call leaves out
  std::deque<Finished> finished;
  /// processor:started events of steps that started since the dispatcher last looked, joined by
  /// newlines: they go out with its next call, ahead of those steps' ends (note_started()).
  std::string started_events;
  std::size_t started_count = 0;
  std::set<std::string> signalled;                 ///< queues whose marker popped
  std::map<std::string, long long> signalled_due;  ///< queues whose delay marker popped, and when due
  std::map<std::string, Active> active;            ///< by job key
  /// Big joins merging on the pool: tracked in `active` (their locks renewed), but a join does
  /// not count against -c.
  std::size_t joins_merging = 0;
  std::unordered_set<std::string> cancelled_runs;
  std::atomic<bool> stopping{false};
  const long long started_ms = detail::now_ms();  ///< for the heartbeat's uptime
  // What add_flow / remove_flow change, under `mutex`; the dispatcher and the waker follow.
  detail::BindingMap served_bindings;
  std::vector<std::shared_ptr<const PlannedFlow>> served_flows;
  std::uint64_t served_version = 0;
  /// Versions of flows no longer served (replaced by remove_flow + add_flow, as --watch does):
  /// the steps their runs still have queued are run with them. The newest kRetiredFlows kept.
  std::deque<std::shared_ptr<const PlannedFlow>> retired_flows;
  /// Bindings made for retired versions, by flow hash and queue key prefix.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<detail::Binding>> retired_bindings;

  // The dispatcher's own:
  detail::BindingMap bindings;  ///< what it fetches from: `served_bindings` as of its last look
  std::uint64_t bindings_version = 0;
  long long call_seq = 0;
  std::string token_base;
  std::vector<OpGroup> unsent;  ///< ended jobs' operations not sent yet (or sent again)
  /// Groups whose big batches' jobs are still being planned a chunk at a time (AddFeed), oldest
  /// first: each chunk goes out when nothing else waits, the group itself after its last chunk.
  struct Feeding {
    std::vector<std::shared_ptr<AddFeed>> feeds;
    OpGroup check;              ///< the finish's ownership check every chunk starts with
    std::vector<OpGroup> then;  ///< the group (as chunk_group left it) once every job is added
  };
  std::deque<Feeding> feeding;
  /// A big batch's feed or join just ended: its freed memory is returned to the system on the
  /// dispatcher's next turn. Freed memory of one malloc arena is not reused by another thread's,
  /// so without this the worker's peak adds a batch's planning to its merging.
  bool memory_to_return = false;
  std::deque<detail::InFlight> in_flight;  ///< calls sent, oldest first
  /// Two calls in flight: Redis runs one while the dispatcher handles the other's jobs.
  static constexpr std::size_t kMaxInFlight = 2;
  /// A skipped queue's delayed jobs are promoted at least this often, ms.
  static constexpr long long kSkipPromoteMs = 20;
  /// The waker blocks on markers it no longer may leave alone: the next call wakes it (op "Z").
  bool waker_interrupt_due = false;
  std::map<std::string, Active> unsent_locks;  ///< their locks, renewed until it has
  /// Groups (group_identity) whose staged outcome or blob was gone when their call ran: sent once
  /// more as they are, values in the call.
  std::set<std::string> inline_groups;
  std::size_t fetch_rotation = 0;
  /// Step jobs fetched beyond the free slots, oldest first, waiting for one (worker_prefetch.cpp).
  std::deque<std::pair<FetchedJob, std::shared_ptr<detail::Binding>>> prefetched;
  /// A job fetched again while an earlier run of it is still active here: that one lost its lock
  /// (Redis paused past it, say) and stalled-job recovery gave the job back. It starts once the
  /// earlier one ends, so -c holds and `active` has one entry per job; its lock is renewed
  /// meanwhile. By job key (worker_prefetch.cpp).
  struct Rerun {
    FetchedJob job;
    std::shared_ptr<detail::Binding> binding;
    detail::Clock::time_point renewed;
  };
  std::map<std::string, Rerun> reruns;
  /// One idle connection per served queue (by name), named as BullMQ names its workers'
  /// connections, so Queue.getWorkers() and Bull Board list this worker.
  std::map<std::string, std::unique_ptr<Connection>> named;

  // worker.cpp: the dispatch loop.
  Status serve(const CancelToken& stop);
  bool turn(Connection& conn, detail::LoopTimers& t);
  std::deque<Finished> collect_finished(std::size_t& running);
  /// A step of a run with events on starts: its processor:started (any thread).
  void note_started(std::string event_text);
  bool wind_down(detail::LoopTimers& t, std::size_t running, bool nothing_done);
  /// `free_slots` for queues whose jobs may be prefetched, `run_slots` for the others.
  std::vector<std::shared_ptr<Binding>> plan_fetch(OpList& ops, int free_slots, int run_slots);
  bool housekeeping(Connection& conn, detail::LoopTimers& t);
  void sleep_until_due(const detail::LoopTimers& t);
  std::vector<std::string> step_header(long long now, int fetch_budget);
  bool accept_reply(const Reply& reply, detail::InFlight& call);
  void isolate_failure(Connection& c, const std::vector<std::shared_ptr<Binding>>& fetched_from);
  bool housekeeping_due(const detail::LoopTimers& t) const;
  /// Gives free heap pages of every malloc arena back to the system (malloc_trim).
  void return_memory();

  // worker_prefetch.cpp: jobs held beyond -c.
  /// Run on the dispatcher at once (instant, small): such a job never waits for a slot.
  static bool runs_inline(const FetchedJob& job, const detail::Binding& b);
  /// Whether jobs of `b` may be fetched beyond the free slots: instant steps, or steps that
  /// have run for under 2 ms on average, under no limit across workers.
  bool may_prefetch(const detail::Binding& b) const;
  static void note_step_time(detail::Binding& b, detail::Clock::duration took);
  /// Steps running now: active jobs that neither wait for a slot nor have ended, joins aside.
  std::size_t running_steps();
  /// Of `active`, the steps started and not collected: neither held for a slot nor joins.
  std::size_t started_steps() const;
  /// What -c's fetch budget counts as held (under `mutex`): `active` but the jobs held for a
  /// slot, which count on their own; a big join merging on the pool counts, as it takes a thread.
  std::size_t held_active() const { return active.size() - std::min(active.size(), prefetched.size()); }
  /// A fetched step job: run now, or held until a slot frees.
  void take_fetched(FetchedJob job, const std::shared_ptr<detail::Binding>& b);
  void start_prefetched();
  /// The reruns whose earlier run ended: taken as fetched now.
  void start_reruns();
  /// Stopping: the held jobs (and reruns) go back to wait at once, their attempts not counted.
  void return_prefetched();

  // worker_calls.cpp: pipelined step-script calls.
  int reserved_budget() const;
  /// A call whose reply never came: its groups go to `again`, followed by one that puts back
  /// in wait whatever it may have fetched (op "U": jobs locked with its token prefix), so
  /// those jobs wait for no lock to expire.
  static void take_back(detail::InFlight& call, std::vector<OpGroup>& again);
  /// Adds finished jobs' groups to `unsent`, a big one as its chunks (op_chunks.hpp).
  void queue_groups(std::vector<FedGroup> groups);
  /// When nothing else waits to be sent: the next chunk of the oldest feeding group, or that
  /// group itself once its feeds are done.
  void feed_unsent();
  /// Sends the unsent operations (as many as one call carries), `ops` and its fetches; false
  /// when the connection failed.
  bool send_call(Connection& conn, OpList& ops, std::vector<std::shared_ptr<Binding>> fetched_from, int budget,
                 bool ended_some, detail::LoopTimers& t);
  /// Reads the oldest call's reply and takes what it fetched; true when it ended or took jobs.
  bool receive_call(Connection& conn, detail::LoopTimers& t);
  /// The call's reply, read after those of the commands sent ahead of it.
  Result<Reply> receive_step(Connection& conn, const detail::InFlight& call);
  bool accept_call(detail::InFlight& call, const Reply& reply, detail::LoopTimers& t);
  void drain_calls(Connection& conn, detail::LoopTimers& t);
  void lost_calls(const Error& e, detail::LoopTimers& t);
  void back_off(detail::LoopTimers& t);

  // worker_bindings.cpp: which queues are served.
  Status add_bindings(const std::shared_ptr<const PlannedFlow>& flow);
  Status remove_bindings(const std::string& flow_name);
  /// The binding of a retired version `hash` of `b`'s flow for `b`'s queue; null when this
  /// worker never served that version. Thread-safe.
  std::shared_ptr<detail::Binding> retired_binding(const detail::Binding& b, const std::string& hash);
  bool follow_bindings();
  /// The markers to block on: of the queues served (as of `version`), but those skipped (as of
  /// `skip_version`), which become waker_skipping.
  std::vector<std::string> marker_keys(std::uint64_t& version, std::uint64_t& skip_version);

  // worker_steps.cpp: one job.
  /// Holds `job` as active: its lock renewed, its cancellation reachable, until its end is recorded.
  void track_active(const FetchedJob& job);
  void dispatch(FetchedJob job, const std::shared_ptr<Binding>& b);
  void run_leaf(FetchedJob job, std::shared_ptr<Binding> b);
  void finish_ops(Finished& f, OpList& ops);
  /// A successful outcome's text and continuation, built where the step ran: planning a batch of
  /// 100,000 items takes most of a second, during which the dispatcher must go on renewing locks.
  void plan_ahead(Finished& f) const;
  void leaf_failed(Finished& f, Error e, OpList& ops);
  /// A join fetched by the last call: merged here when small (its continuation goes with the next
  /// call); a big one (a batch of thousands) is merged on the pool like a step, its lock renewed
  /// meanwhile, so the dispatcher is never held up longer than a lock lasts.
  void take_join(FetchedJob job, const std::shared_ptr<Binding>& b, OpList& ops);
  /// Reads a big join's failed children (join_children.hpp), trying a transient failure again
  /// (Redis away) until it succeeds or the worker stops.
  Status read_children(FetchedJob& job);
  /// Replaces the job's data by the value it points to when it was kept out of line (blobs.hpp),
  /// and names that blob in `f`; a network error only once the worker stops (Redis away is
  /// waited for meanwhile).
  Status read_blob_data(FetchedJob& job, Finished& f);
  /// How long the job's values kept out of line live once it ends (blobs.hpp).
  static long long blob_ttl(const Finished& f);
  /// Runs `attempt` until it succeeds, fails for good (not a network error) or the worker stops,
  /// backing off between attempts; `what` names what is read in the warnings.
  Status until_not_transient(const std::string& what, const std::function<Status()>& attempt) const;
  /// A big join's succeeded children, read a chunk at a time (HashScan) on a connection of its
  /// own as the join merges them; a transient failure is tried again like read_children's.
  class ScannedChildren final : public Planner::SucceededChildren {
   public:
    ScannedChildren(Impl& worker, std::string key);
    std::optional<std::pair<std::string, std::string>> next() override;
    /// Why reading stopped before the last chunk (then the join's merge is not used).
    std::optional<Error>& failure() { return failure_; }

   private:
    bool read_chunk();
    Impl& worker_;
    HashScan scan_;
    std::unique_ptr<Connection> conn_;
    std::vector<std::pair<std::string, std::string>> chunk_;
    std::size_t at_ = 0;
    std::optional<Error> failure_;
  };
  /// Merges a join's children: what the join ended with.
  Finished settle_join(FetchedJob job, std::shared_ptr<Binding> b);
  /// A join the worker stopped merging: back to wait for another worker, its attempt not counted.
  Finished interrupted(Finished f, FetchedJob job) const;
  Status check_envelope(const FetchedJob& job, const Binding& b, const Envelope& env) const;
  JobLimits limits() const { return JobLimits{options.max_job_bytes, kMaxJsonDepth}; }
  using ObserverCall = void (WorkerObserver::*)(const StepEvent&);
  void notify(ObserverCall call, const FetchedJob& job, const Finished& f, const Error* error);
  /// Tells the observers of a Redis call sent at `sent_at` (worker_calls.cpp).
  void tell_redis_call(std::string_view call, detail::Clock::time_point sent_at, bool ok);
  /// Options for the dispatcher's connections: the observers hear of reconnections.
  ConnectOptions dispatcher_connect_options();

  // worker_foreign.cpp: jobs from BullMQ clients.
  void foreign_options(Finished& f) const;
  long long foreign_backoff_ms(const Finished& f) const;
  void foreign_completed(const Finished& f, const std::string& value, OpList& ops) const;
  void foreign_failed(const Finished& f, const Error& e, OpList& ops) const;
  /// A job of a BullMQ job scheduler (field rjk) ended for good: its scheduler's next job.
  void next_scheduled(const Finished& f, OpList& ops) const;

  // worker_housekeeping.cpp.
  void waker_loop(Connection& blocker);
  /// Tells the waker which markers it may leave alone: those of queues whose last fetch was full
  /// (none once stopping). Sets waker_interrupt_due when it blocks leaving out one to be watched.
  void update_waker_skip(bool stopping_now);
  std::string waker_key() const { return space.waker(token_base); }
  void refresh_cancelled(Connection& c);
  /// Claims the due occurrences of schedules of flows served here (core/redis/schedules.hpp).
  void claim_schedules(Connection& c);
  void renew_locks(Connection& c);
  void stalled_check(Connection& c);
  void heartbeat(Connection& c, bool alive);
  void announce();
};

}  // namespace am2z::redis
