#include "core/redis/worker.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_set>

#include "core/redis/connection.hpp"
#include "core/redis/job_codec.hpp"
#include "core/redis/scripts.hpp"
#include "core/task_pool.hpp"

namespace am2z::redis {

namespace {

using Clock = std::chrono::steady_clock;

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double unit_random() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
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

std::string error_stack(const Error& e) { return Json::array({e.to_json().dump()}).dump(); }

long long int_option(const Json& j, const char* key, long long fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<long long>() : fallback;
}

/// BullMQ's removeOnComplete / removeOnFail of a job as the step script's keep argument; the
/// worker's own setting when the job has none.
std::string retention(const Json& opts, const char* key, bool worker_keeps) {
  auto it = opts.is_object() ? opts.find(key) : opts.end();
  if (it == opts.end()) return worker_keeps ? "1" : "0";
  if (it->is_boolean()) return it->get<bool>() ? "0" : "1";
  if (it->is_number_integer()) return "c" + std::to_string(std::max<long long>(it->get<long long>(), -1)) + "a0";
  if (it->is_object()) {
    return "c" + std::to_string(int_option(*it, "count", -1)) + "a" +
           std::to_string(std::max(0LL, int_option(*it, "age", 0)));
  }
  return worker_keeps ? "1" : "0";
}

/// A foreign job's parent (BullMQ FlowProducer): where it is and what the job's failure does.
struct ForeignParent {
  std::string queue;  ///< key prefix of the parent's queue
  std::string id;
  OpList::ChildEnd on_failure = OpList::ChildEnd::failed;
  bool wait_on_failure = true;  ///< BullMQ's default: a failed child keeps its parent waiting
};

std::optional<ForeignParent> foreign_parent(const FetchedJob& job) {
  if (job.field("parentKey").empty()) return std::nullopt;
  Json p = Json::parse(job.field("parent", "{}"), nullptr, false);
  if (!p.is_object() || !p.contains("id") || !p["id"].is_string() || !p.contains("queueKey") ||
      !p["queueKey"].is_string()) {
    return std::nullopt;
  }
  ForeignParent out{p["queueKey"].get<std::string>() + ":", p["id"].get<std::string>()};
  if (p.value("fpof", false)) {
    out.on_failure = OpList::ChildEnd::fail_parent;
    out.wait_on_failure = false;
  } else if (p.value("cpof", false)) {
    out.on_failure = OpList::ChildEnd::continue_parent;
    out.wait_on_failure = false;
  } else if (p.value("idof", false)) {
    out.wait_on_failure = false;
  } else if (p.value("rdof", false)) {
    out.on_failure = OpList::ChildEnd::removed;
    out.wait_on_failure = false;
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

/// am2z job ids are "r<run>.<node path>[~scope]": the run, without parsing the job.
std::string run_of(const std::string& id) {
  if (id.size() < 3 || id.front() != 'r') return {};
  const auto dot = id.find('.');
  return dot == std::string::npos ? std::string() : id.substr(1, dot - 1);
}

}  // namespace

struct Worker::Impl {
  WorkerOptions options;
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

  Status serve(const CancelToken& stop);
  void waker_loop(Connection& blocker);
  void run_leaf(FetchedJob job, Binding* b);
  void finish_ops(Finished& f, OpList& ops);
  void leaf_failed(Finished& f, Error e, OpList& ops);
  void settle_join(FetchedJob& job, Binding* b, OpList& ops);
  Result<Envelope> check_envelope(const FetchedJob& job, const Binding& b, const Json& opts);
  void refresh_cancelled(Connection& c);
  void renew_locks(Connection& c);
  void stalled_check(Connection& c);
  void heartbeat(Connection& c, bool alive);
  void announce();

  /// One idle connection per served queue, named as BullMQ names its workers' connections, so
  /// Queue.getWorkers() and Bull Board list this worker.
  std::vector<std::unique_ptr<Connection>> named;
};

Result<std::unique_ptr<Worker>> Worker::create(WorkerOptions options,
                                               std::vector<std::shared_ptr<const PlannedFlow>> flows) {
  auto impl = std::make_unique<Impl>();
  impl->log = options.logger ? options.logger : spdlog::default_logger();
  if (options.name.empty()) {
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    options.name = std::string(host) + ":" + std::to_string(getpid());
  }
  impl->token_base = options.name + ":" + std::to_string(now_ms());
  for (const auto& flow : flows) {
    const QueueLayout& layout = flow->layout();
    auto add = [&](std::string name, std::shared_ptr<const ProcessorInstance> inst) -> Status {
      const std::string keys = layout.keys(name);
      if (auto it = impl->bindings.find(keys); it != impl->bindings.end()) {
        if (it->second->instance == inst && it->second->flow == flow) return {};
        return fail(errors::configuration(
            "flows", "queue '" + name + "' is claimed twice: by flow '" + it->second->flow->flow().name + "' (" +
                         it->second->flow->flow().source + ") and by '" + flow->flow().source + "'"));
      }
      auto b = std::make_unique<Binding>();
      b->name = std::move(name);
      b->keys = keys;
      b->flow = flow;
      b->instance = std::move(inst);
      b->planner = std::make_unique<Planner>(*flow);
      impl->bindings.emplace(keys, std::move(b));
      return {};
    };
    for (const auto& entry : flow->entries()) {
      if (entry.node->kind() != NodeKind::processor) continue;
      const auto& inst = static_cast<const ProcessorNode*>(entry.node)->instance_ptr();
      if (inst->type == "remote") continue;  // done by other workers, on the queue it names
      if (auto st = add(layout.processor_queue(flow->flow().name, inst->name), inst); !st) return fail(st.error());
    }
    if (auto st = add(layout.join_queue(flow->flow().name), nullptr); !st) return fail(st.error());
  }
  impl->options = std::move(options);
  impl->flows = std::move(flows);
  return std::unique_ptr<Worker>(new Worker(std::move(impl)));
}

Worker::Worker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Worker::~Worker() = default;

WorkerStats Worker::stats() const {
  return WorkerStats{impl_->completed.load(), impl_->failed.load(), impl_->retried.load()};
}

std::vector<std::string> Worker::queues() const {
  std::vector<std::string> out;
  for (const auto& [keys, b] : impl_->bindings) out.push_back(b->name);
  return out;
}

Status Worker::run(const CancelToken& stop) { return impl_->serve(stop); }

Result<Envelope> Worker::Impl::check_envelope(const FetchedJob& job, const Binding& b, const Json& opts) {
  auto env = Envelope::from_json(opts["am2z"]);
  if (!env) return env;
  const Flow& flow = b.flow->flow();
  if (env->flow != flow.name) {
    return fail(errors::configuration("opts.am2z.flow", "job " + job.key() + " belongs to flow '" + env->flow +
                                                            "', but this worker serves queue '" + b.name +
                                                            "' for flow '" + flow.name + "'"));
  }
  if (env->flow_hash != b.flow->hash()) {
    return fail(errors::configuration(
        "opts.am2z.fh", "job " + job.key() + " was submitted for another version of flow '" + flow.name + "' (sha256 " +
                            env->flow_hash.substr(0, 12) + "); this worker loaded " + flow.source + " (sha256 " +
                            b.flow->hash().substr(0, 12) + "): it refuses to run it"));
  }
  const int e = b.flow->find(env->node);
  const bool is_leaf = b.instance != nullptr;  // a join queue also holds remote steps' continuations
  if (e < 0) {
    return fail(errors::configuration("opts.am2z.node", "job " + job.key() + " names node '" + env->node +
                                                            "', which flow '" + flow.name + "' does not have"));
  }
  const Node* node = b.flow->entries()[static_cast<std::size_t>(e)].node;
  const bool node_is_leaf = node->kind() == NodeKind::processor;
  const bool is_remote = node_is_leaf && static_cast<const ProcessorNode*>(node)->instance().type == "remote";
  const bool served = is_leaf ? node_is_leaf && static_cast<const ProcessorNode*>(node)->instance_ptr() == b.instance
                              : node->kind() == NodeKind::parallel || node->kind() == NodeKind::batch || is_remote;
  if (!served) {
    return fail(errors::configuration("opts.am2z.node", "job " + job.key() + " names node '" + env->node +
                                                            "', which is not served by queue '" + b.name + "'"));
  }
  return env;
}

void Worker::Impl::run_leaf(FetchedJob job, Binding* b) {
  Finished f;
  f.binding = b;
  f.processed_on = now_ms();
  f.attempt = job.number("atm") + 1;
  f.policy = &b->instance->policy.retry;
  f.max_attempts = std::max(1, b->instance->policy.retry.attempts);
  std::shared_ptr<CancelSource> cancel;
  {
    std::lock_guard lock(mutex);
    auto it = active.find(job.key());
    if (it != active.end()) cancel = it->second.cancel;
  }
  auto finish = [&](Result<State> outcome) {
    f.outcome = std::move(outcome);
    f.job = std::move(job);
    std::lock_guard lock(mutex);
    finished.push_back(std::move(f));
    wake.notify_one();
  };

  Json opts = Json::parse(job.field("opts", "{}"), nullptr, false);
  if (opts.is_discarded() || !opts.is_object()) {
    f.max_attempts = 1;
    return finish(fail(errors::validation(job.key() + " opts", nullptr, "is not a JSON object")));
  }
  f.opts = opts;
  if (!job.field("defa").empty()) {
    f.max_attempts = 1;
    return finish(fail(errors::execution(b->instance->name, job.field("defa"))));
  }
  std::string session;
  if (opts.contains("am2z")) {
    auto env = check_envelope(job, *b, opts);
    if (!env) {
      f.max_attempts = 1;
      // Still tell the run why, if the envelope says where its outcome goes.
      if (auto raw = Envelope::from_json(opts["am2z"])) f.envelope = std::move(*raw);
      return finish(fail(std::move(env.error())));
    }
    session = env->session;
    f.envelope = std::move(*env);
  } else {
    // A foreign job (BullMQ's Queue.add): BullMQ's attempts and backoff apply.
    f.policy = nullptr;
    f.max_attempts = static_cast<int>(std::clamp<long long>(int_option(opts, "attempts", 1), 1, 1'000'000));
    f.backoff = opts.value("backoff", Json());
  }
  Json data = Json::parse(job.field("data", "{}"), nullptr, false);
  if (data.is_discarded()) {
    f.max_attempts = 1;
    return finish(fail(errors::validation(job.key() + " data", nullptr, "is not valid JSON")));
  }
  auto input = State::from_json(std::move(data), session.empty() ? "job-" + job.id : session);
  if (!input) {
    f.max_attempts = 1;
    Error e = std::move(input.error());
    e.message = job.key() + ": " + e.message;
    return finish(fail(std::move(e)));
  }
  bool cancelled = false;
  if (f.envelope) {
    std::lock_guard lock(mutex);
    cancelled = cancelled_runs.contains(f.envelope->run);
  }
  if (cancelled) {
    f.max_attempts = 1;
    return finish(fail(errors::cancelled("run " + f.envelope->run + " was cancelled by its submitter")));
  }

  auto shared = std::make_shared<detail::RunShared>();
  shared->run_id = f.envelope ? f.envelope->run : job.id;
  shared->session_id = input->meta.session_id;
  shared->logger = log;
  shared->flow = b->flow->flow_ptr();
  const CancelToken token = cancel ? cancel->token() : CancelToken();
  Scope scope{shared.get(), &token, kNoDeadline, 0};
  State state = *input;
  // The instance's own limits, per worker process (as the local runtime does per run).
  const ProcessorInstance& inst = *b->instance;
  Status st;
  if (inst.rate) st = inst.rate->acquire(token, kNoDeadline, inst.name);
  if (st && inst.concurrency) st = inst.concurrency->acquire(token, kNoDeadline, inst.name);
  if (st) {
    st = run_attempt(b->instance, state, scope, 1, static_cast<int>(f.attempt));
    if (inst.concurrency) inst.concurrency->release();
  }
  if (st) {
    state.meta.bump();
    return finish(std::move(state));
  }
  Error e = std::move(st.error());
  annotate_failure(e, *b->instance);
  if (stopping.load() && token.cancelled()) f.interrupted = true;
  if (!e.partial_state) e.partial_state = std::make_shared<const Json>(input->to_json());
  finish(fail(std::move(e)));
}

void Worker::Impl::leaf_failed(Finished& f, Error e, OpList& ops) {
  FetchedJob& job = f.job;
  const bool retry = [&] {
    if (f.attempt >= f.max_attempts || e.category == ErrorCategory::cancelled) return false;
    return f.policy ? f.policy->should_retry(e) : true;
  }();
  if (retry) {
    long long delay = 0;
    if (f.policy) {
      delay = f.policy->backoff_after(static_cast<int>(f.attempt), unit_random()).count();
    } else if (f.backoff.is_number()) {
      delay = f.backoff.get<long long>();
    } else if (f.backoff.is_object()) {
      const long long base = std::max(0LL, int_option(f.backoff, "delay", 0));
      const auto type = f.backoff.find("type");
      const bool exponential = type != f.backoff.end() && type->is_string() && *type == "exponential";
      delay = exponential ? base << std::min<long long>(f.attempt - 1, 30) : base;
    }
    ops.retry(job.queue, job.id, job.token, f.processed_on, f.attempt, e.message, error_stack(e), delay);
    ++retried;
    return;
  }
  if (f.attempt > 1) e.context["attempts"] = f.attempt;
  ops.fail_final(job.queue, job.id, job.token, f.processed_on, f.attempt, e.message, error_stack(e),
                 retention(f.opts, "removeOnFail", options.keep_failed));
  ++failed;
  if (!f.envelope) {
    if (auto parent = foreign_parent(job); parent && !parent->wait_on_failure) {
      ops.deliver(parent->queue, parent->id, job.key(), e.message, parent->on_failure);
    }
    return;
  }
  if (cancelled_runs.contains(f.envelope->run)) return;  // nobody waits for it any more
  const std::string key = job.key();
  if (e.category == ErrorCategory::configuration && e.context.value("configKey", "").starts_with("opts.am2z")) {
    // This worker cannot place the job in its flow: tell the run directly.
    ops.outcome(f.envelope->reply, outcome_payload(f.envelope->run, fail(std::move(e))).dump(),
                f.envelope->reply_ttl_ms);
    return;
  }
  f.binding->planner->finished(*f.envelope, key, fail(std::move(e)), ops);
}

void Worker::Impl::finish_ops(Finished& f, OpList& ops) {
  ops.begin_group();
  FetchedJob& job = f.job;
  if (f.interrupted) {  // shutdown: back to wait for another worker, this attempt not counted
    ops.retry(job.queue, job.id, job.token, f.processed_on, f.attempt - 1, "worker shutting down", "[]", 0);
    return;
  }
  if (!f.outcome) return leaf_failed(f, std::move(f.outcome.error()), ops);
  const std::string value = f.outcome->to_json().dump();
  ops.complete(job.queue, job.id, job.token, f.processed_on, f.attempt, value,
               retention(f.opts, "removeOnComplete", options.keep_completed));
  ++completed;
  if (!f.envelope) {
    // A child of a BullMQ flow: its parent learns the result, as BullMQ's own workers do it.
    if (auto parent = foreign_parent(job)) {
      ops.deliver(parent->queue, parent->id, job.key(), value, OpList::ChildEnd::completed);
    }
    return;
  }
  if (f.envelope && !cancelled_runs.contains(f.envelope->run)) {
    f.binding->planner->finished(*f.envelope, job.key(), std::move(f.outcome), ops);
  }
}

void Worker::Impl::settle_join(FetchedJob& job, Binding* b, OpList& ops) {
  Finished f;
  f.binding = b;
  f.processed_on = now_ms();
  f.attempt = job.number("atm") + 1;
  Json opts = Json::parse(job.field("opts", "{}"), nullptr, false);
  auto env = opts.is_object() && opts.contains("am2z")
                 ? check_envelope(job, *b, opts)
                 : Result<Envelope>(fail(errors::validation(job.key() + " opts.am2z", nullptr,
                                                            "is missing: a join job must come from am2z")));
  Json data = Json::parse(job.field("data", "{}"), nullptr, false);
  auto base = data.is_discarded() ? Result<State>(fail(errors::validation(job.key() + " data", nullptr, "is not JSON")))
                                  : State::from_json(std::move(data), env ? env->session : "");
  if (env) f.envelope = *env;
  if (!env) {
    f.outcome = fail(std::move(env.error()));
  } else if (!base) {
    f.outcome = fail(std::move(base.error()));
  } else {
    f.outcome = b->planner->settle_join(*env, std::move(*base), job.succeeded, job.failed, job.errors);
  }
  f.job = std::move(job);
  {
    std::lock_guard lock(mutex);
    active.erase(f.job.key());
  }
  finish_ops(f, ops);
}

void Worker::Impl::waker_loop(Connection& blocker) {
  std::vector<std::string> args{"BZPOPMIN"};
  for (const auto& [keys, b] : bindings) args.push_back(keys + "marker");
  const double seconds = static_cast<double>(options.idle_poll.count()) / 1000.0;
  args.push_back(std::to_string(seconds));
  std::chrono::milliseconds backoff{50};
  while (!stopping.load()) {
    auto r = blocker.command(args, options.idle_poll + std::chrono::milliseconds(2000));
    if (!r) {
      log->warn("redis: marker wait failed ({}); retrying", r.error().message);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      continue;
    }
    backoff = std::chrono::milliseconds(50);
    if (r->is_array() && r->elements.size() >= 3) {
      std::string key = r->elements[0].str;
      key.resize(key.size() - std::string("marker").size());
      std::lock_guard lock(mutex);
      signalled.insert(key);
      if (r->elements[1].str == "1") {
        // a delayed job is due then: the dispatcher promotes it (it owns the bindings)
        signalled_due[key] = std::strtoll(r->elements[2].str.c_str(), nullptr, 10);
      }
      wake.notify_one();
    }
  }
}

void Worker::Impl::refresh_cancelled(Connection& c) {
  auto r = c.command({"ZRANGEBYSCORE", "am2z:cancelled", std::to_string(now_ms() - 3'600'000), "+inf"});
  if (!r || !r->is_array()) return;
  std::unordered_set<std::string> runs;
  for (const auto& e : r->elements) runs.insert(e.str);
  std::vector<std::shared_ptr<CancelSource>> to_cancel;
  {
    std::lock_guard lock(mutex);
    for (auto& [key, a] : active) {
      if (runs.contains(a.run) && !cancelled_runs.contains(a.run)) to_cancel.push_back(a.cancel);
    }
  }
  {
    std::lock_guard lock(mutex);
    cancelled_runs = std::move(runs);
  }
  for (auto& c2 : to_cancel) c2->cancel("the run was cancelled by its submitter");
}

void Worker::Impl::renew_locks(Connection& c) {
  std::vector<std::string> args{std::to_string(options.lock_duration.count())};
  const auto due = Clock::now() - options.lock_duration / 2;
  {
    std::lock_guard lock(mutex);
    for (auto& [key, a] : active) {
      if (a.renewed > due) continue;
      args.insert(args.end(), {a.lock_key, a.token, a.stalled_key, a.id});
      a.renewed = Clock::now();
    }
  }
  if (args.size() == 1) return;
  auto r = run_script(c, ScriptId::extend_locks, args);
  if (!r) {
    log->warn("redis: lock renewal failed: {}", r.error().message);
    return;
  }
  for (const auto& lost : r->elements) log->warn("lost the lock of job {}: another worker may run it", lost.str);
}

void Worker::Impl::stalled_check(Connection& c) {
  std::vector<std::string> args{std::to_string(now_ms()), std::to_string(options.stalled_interval.count()),
                                std::to_string(options.max_stalled), std::to_string(options.max_events)};
  for (const auto& [keys, b] : bindings) args.push_back(keys);
  auto r = run_script(c, ScriptId::stalled, args);
  if (!r) {
    log->warn("redis: stalled-job check failed: {}", r.error().message);
    return;
  }
  for (const auto& moved : r->elements)
    log->warn("job {} stalled (its worker stopped renewing its lock): it runs again", moved.str);
}

void Worker::Impl::announce() {
  constexpr std::size_t kMaxNamed = 64;  // beyond that, the heartbeat key alone says who serves
  if (named.empty()) {
    std::string who = options.name;
    std::replace(who.begin(), who.end(), ':', '-');  // BullMQ splits these names at ':'
    for (const auto& [keys, b] : bindings) {
      if (named.size() == kMaxNamed) break;
      ConnectOptions o;
      o.client_name = options.prefix + ":" + base64(b->name) + ":w:" + who;
      named.push_back(std::make_unique<Connection>(options.endpoint, o));
    }
  }
  for (auto& c : named) (void)c->command({"PING"});  // (re)connects after a Redis restart
}

void Worker::Impl::heartbeat(Connection& c, bool alive) {
  const std::string key = "am2z:worker:" + options.name;
  if (!alive) {
    (void)c.command({"DEL", key});
    return;
  }
  Json queues = Json::array();
  for (const auto& [keys, b] : bindings) queues.push_back(b->name);
  Json beat{{"name", options.name},          {"pid", getpid()},          {"concurrency", options.concurrency},
            {"queues", std::move(queues)},   {"prefix", options.prefix}, {"seen", now_ms()},
            {"completed", completed.load()}, {"failed", failed.load()}};
  (void)c.command({"SET", key, beat.dump(), "PX", "15000"});
}

Status Worker::Impl::serve(const CancelToken& stop) {
  Connection conn(options.endpoint, ConnectOptions{});
  if (auto st = conn.connect(); !st) return st;
  ConnectOptions blocking;
  blocking.command_timeout = options.idle_poll + std::chrono::milliseconds(2000);
  Connection blocker(options.endpoint, blocking);
  if (auto st = blocker.connect(); !st) return st;
  log->info("worker {} serving {} queue(s) on {} with concurrency {}", options.name, bindings.size(),
            options.endpoint.display(), options.concurrency);
  for (const auto& [keys, b] : bindings) log->debug("queue {}", b->name);

  CancelRegistration on_stop = stop.on_cancel([this] {
    stopping.store(true);
    std::lock_guard lock(mutex);
    wake.notify_all();
  });
  if (stop.cancelled()) stopping.store(true);
  std::thread waker([this, &blocker] { waker_loop(blocker); });

  heartbeat(conn, true);
  announce();
  refresh_cancelled(conn);
  auto next_beat = Clock::now() + std::chrono::seconds(5);
  auto next_cancel_refresh = Clock::now() + std::chrono::seconds(1);
  auto next_renew = Clock::now() + options.lock_duration / 4;
  auto next_stalled = Clock::now();
  auto next_poll = Clock::now() + options.idle_poll;
  Clock::time_point stop_deadline{};
  bool grace_over = false;
  std::chrono::milliseconds redis_backoff{50};

  for (;;) {
    // 1. Collect what ended, and decide what to fetch.
    std::deque<Finished> done;
    std::size_t running = 0;
    {
      std::unique_lock lock(mutex);
      if (!finished.empty() && finished.size() < active.size()) {
        // Jobs that take microseconds end in bursts: a moment's wait lets one call finish the
        // whole burst instead of one call per job. Bounded, so slow jobs lose nothing.
        wake.wait_for(lock, std::chrono::microseconds(300), [&] { return finished.size() >= active.size(); });
      }
      done.swap(finished);
      for (const auto& f : done) active.erase(f.job.key());
      running = active.size();
      for (const auto& key : signalled) {
        if (auto it = bindings.find(key); it != bindings.end()) it->second->maybe_ready = true;
      }
      signalled.clear();
      for (const auto& [key, due] : signalled_due) {
        if (auto it = bindings.find(key); it != bindings.end()) {
          long long& next = it->second->next_due;
          if (next < 0 || due < next) next = due;
        }
      }
      signalled_due.clear();
    }
    const bool stopping_now = stopping.load();
    if (stopping_now && stop_deadline == Clock::time_point{}) {
      stop_deadline = Clock::now() + options.grace;
      log->info("worker {} stopping: no new jobs; {} active job(s) get {} ms to finish", options.name, running,
                options.grace.count());
    }
    if (stopping_now && !grace_over && Clock::now() >= stop_deadline) {
      grace_over = true;
      std::lock_guard lock(mutex);
      if (!active.empty()) log->warn("grace period over: returning {} active job(s) to their queues", active.size());
      for (auto& [key, a] : active) a.cancel->cancel("worker shutting down");
    }
    if (stopping_now && running == 0 && done.empty()) break;

    OpList ops;
    for (auto& f : done) finish_ops(f, ops);
    int free_slots = stopping_now ? 0 : options.concurrency - static_cast<int>(running);
    const long long now = now_ms();
    std::vector<Binding*> fetched_from;
    if (free_slots > 0) {
      for (auto& [keys, b] : bindings) {
        if (b->next_due >= 0 && b->next_due <= now) ops.promote(keys);
      }
      for (auto& [keys, b] : bindings) {
        if (!b->maybe_ready) continue;
        ops.fetch(Fetch{keys, free_slots, b->instance == nullptr});
        fetched_from.push_back(b.get());
      }
    }
    // 2. One call: finish, continue, fetch.
    if (!ops.empty()) {
      std::vector<std::string> argv{std::to_string(now),
                                    std::to_string(options.lock_duration.count()),
                                    std::to_string(options.max_events),
                                    token_base + ":" + std::to_string(++call_seq),
                                    options.name,
                                    options.all_events ? "all" : "final"};
      ops.append_to(argv);
      auto reply = run_script(conn, ScriptId::step, argv);
      if (!reply && reply.error().category != ErrorCategory::network) {
        // Not a connection problem: the call itself is wrong, and repeating it cannot help. The
        // jobs stay active under their locks, so the stalled-job check runs them again later.
        log->error("redis: {} ({} finished job(s) left to stalled-job recovery)", reply.error().message, done.size());
        continue;
      }
      if (!reply) {
        // Redis went away: keep the finished jobs and try again; their locks protect them.
        log->warn("redis: {}; retrying in {} ms", reply.error().message, redis_backoff.count());
        {
          std::lock_guard lock(mutex);
          for (auto& f : done) {
            active.emplace(f.job.key(), Active{f.job.key() + ":lock", f.job.token, f.job.queue + "stalled", f.job.id,
                                               "", Clock::now(), std::make_shared<CancelSource>()});
            finished.push_back(std::move(f));
          }
        }
        std::this_thread::sleep_for(redis_backoff);
        redis_backoff = std::min(redis_backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      redis_backoff = std::chrono::milliseconds(50);
      auto decoded = decode_step_reply(*reply);
      if (!decoded) {
        log->error("{}", decoded.error().message);
        continue;
      }
      for (const auto& [group, code] : decoded->refused) {
        log->warn("a finished job was not recorded (code {}): this worker no longer owned it", code);
      }
      for (const auto& [q, due] : decoded->next_due) {
        if (auto it = bindings.find(q); it != bindings.end()) it->second->next_due = due;
      }
      std::map<std::string, int> per_queue;
      for (const auto& job : decoded->jobs) ++per_queue[job.queue];
      for (Binding* b : fetched_from) b->maybe_ready = per_queue[b->keys] > 0;
      std::vector<FetchedJob> joins;
      for (auto& job : decoded->jobs) {
        auto it = bindings.find(job.queue);
        if (it == bindings.end()) continue;
        Binding* b = it->second.get();
        if (b->instance == nullptr) {
          joins.push_back(std::move(job));
          continue;
        }
        const std::string run = run_of(job.id);
        auto cancel = std::make_shared<CancelSource>();
        {
          std::lock_guard lock(mutex);
          active.emplace(job.key(), Active{job.key() + ":lock", job.token, job.queue + "stalled", job.id, run,
                                           Clock::now(), cancel});
        }
        const ProcessorInstance& inst = *b->instance;
        if (inst.impl->instant() && !inst.policy.timeout && !inst.concurrency && !inst.rate) {
          run_leaf(std::move(job), b);  // microseconds: a thread hand-off would cost more
        } else {
          TaskPool::shared().submit([this, b, j = std::move(job)]() mutable { run_leaf(std::move(j), b); });
        }
      }
      if (!joins.empty()) {
        // Joins only merge results: settled here, their continuations sent with the next call.
        OpList join_ops;
        for (auto& job : joins) settle_join(job, bindings.at(job.queue).get(), join_ops);
        std::vector<std::string> argv2{std::to_string(now_ms()),
                                       std::to_string(options.lock_duration.count()),
                                       std::to_string(options.max_events),
                                       token_base + ":" + std::to_string(++call_seq),
                                       options.name,
                                       options.all_events ? "all" : "final"};
        join_ops.append_to(argv2);
        if (auto r2 = run_script(conn, ScriptId::step, argv2); !r2) {
          log->warn("redis: could not record {} join(s): {}; stalled-job recovery will retry them", joins.size(),
                    r2.error().message);
        }
        for (auto& [keys, b] : bindings) b->maybe_ready = true;
      }
      if (!decoded->jobs.empty() || !done.empty()) continue;  // busy: go round at once
    }
    // 3. Housekeeping on its own clock.
    const auto t = Clock::now();
    if (t >= next_renew) {
      renew_locks(conn);
      next_renew = t + options.lock_duration / 4;
    }
    if (t >= next_stalled) {
      stalled_check(conn);
      next_stalled = t + options.stalled_interval;
    }
    if (t >= next_cancel_refresh) {
      refresh_cancelled(conn);
      next_cancel_refresh = t + std::chrono::seconds(1);
    }
    if (t >= next_beat) {
      heartbeat(conn, true);
      announce();
      next_beat = t + std::chrono::seconds(5);
    }
    if (t >= next_poll) {
      // Safety poll: another client may have taken a marker meant for us (wake-up or delay).
      for (auto& [keys, b] : bindings) {
        b->maybe_ready = true;
        if (b->next_due < 0) b->next_due = now_ms();
      }
      next_poll = t + options.idle_poll;
      continue;
    }
    // 4. Sleep until a job ends, a marker pops, or a timer is due.
    auto until = std::min({next_renew, next_stalled, next_cancel_refresh, next_beat, next_poll});
    long long earliest_due = -1;
    for (auto& [keys, b] : bindings) {
      if (b->next_due >= 0 && (earliest_due < 0 || b->next_due < earliest_due)) earliest_due = b->next_due;
    }
    if (earliest_due >= 0) {
      until = std::min(until, Clock::now() + std::chrono::milliseconds(std::max(0LL, earliest_due - now_ms())));
    }
    if (stopping.load()) until = std::min(until, stop_deadline);
    std::unique_lock lock(mutex);
    wake.wait_until(lock, until, [&] {
      return !finished.empty() || !signalled.empty() || (stopping.load() && stop_deadline == Clock::time_point{});
    });
  }
  stopping.store(true);
  waker.join();
  heartbeat(conn, false);
  named.clear();
  log->info("worker {} stopped: {} completed, {} failed, {} retried", options.name, completed.load(), failed.load(),
            retried.load());
  return {};
}

}  // namespace am2z::redis
