// Reading and running one job on the worker, and turning its end into the operations that record
// it and schedule what follows (lua/step.lua applies them); observers hear of each.
#include <algorithm>
#include <exception>
#include <random>
#include <thread>

#include "core/guarded.hpp"
#include "core/redis/blobs.hpp"
#include "core/redis/join_children.hpp"
#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

using namespace detail;

namespace {

/// How long a job of another flow version waits before a worker takes it again (ms).
constexpr long long kOtherVersionRetryMs = 1000;

double unit_random() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

std::string error_stack(const Error& e) { return dump_text(Json::array({dump_text(e.to_json())})); }

/// Whether the step's run asked for events (then its end publishes them: step_end_events).
bool events_on(const Finished& f) { return f.envelope && f.envelope->events && f.binding->instance; }

/// The events a step's end adds for a run that asked for them: what its processor emitted, then
/// `name` (processor:completed / failed / retrying) with `members`, as a local run orders them.
void step_end_events(Finished& f, OpList& ops, std::string_view name, EventMembers members) {
  if (!events_on(f)) return;
  if (f.emitted) {
    for (const Json& e : f.emitted->take()) add_stamped_event(ops, *f.envelope, e);
  }
  const ProcessorInstance& inst = *f.binding->instance;
  members.text("processor", inst.name).text("type", inst.type).number("attempt", f.attempt);
  add_run_event(ops, *f.envelope, name, members);
}

long long duration_of(const Finished& f) { return std::max(0LL, f.finished_on - f.processed_on); }

}  // namespace

void Worker::Impl::notify(ObserverCall call, const FetchedJob& job, const Finished& f, const Error* error) {
  const Binding& b = *f.binding;
  StepEvent e;
  e.queue = b.name;
  e.job_id = job.id;
  e.run_id = f.envelope ? std::string_view(f.envelope->run) : std::string_view(job.id);
  e.flow = b.flow->flow().name;
  if (b.instance) e.instance = b.instance->name;
  e.attempt = f.attempt;
  e.started_ms = f.processed_on;
  if (call != &WorkerObserver::step_started) {
    e.finished_ms = f.finished_on;
    e.duration_ms = std::max(0LL, f.finished_on - f.processed_on);
  }
  e.error = error;
  e.interrupted = f.interrupted;
  for (const auto& o : observers) {
    try {
      (*o.*call)(e);
    } catch (const std::exception& ex) {
      log->error("a worker observer threw: {}", ex.what());  // it must not stop the dispatcher
    }
  }
}

void Worker::Impl::track_active(const FetchedJob& job) {
  std::lock_guard lock(mutex);
  active.emplace(job.key(), Active{lock_key(job.queue, job.id), job.token, queue_key(job.queue, "stalled"), job.id,
                                   run_of(job.id), Clock::now(), std::make_shared<CancelSource>()});
}

void Worker::Impl::dispatch(FetchedJob job, const std::shared_ptr<Binding>& b) {
  track_active(job);  // a job that waited for a slot (worker_prefetch.cpp) is tracked already
  if (runs_inline(job, *b)) {
    run_leaf(std::move(job), b);
  } else {
    pool->submit([this, b, j = std::move(job)]() mutable {
      const auto start = Clock::now();
      run_leaf(std::move(j), b);
      note_step_time(*b, Clock::now() - start);
    });
  }
}

Status Worker::Impl::check_envelope(const FetchedJob& job, const Binding& b, const Envelope& envelope) const {
  const Envelope* env = &envelope;
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
  const bool served = is_leaf ? node_is_leaf && static_cast<const ProcessorNode*>(node)->instance_ptr() == b.instance
                              : node->settles_in_join();
  if (!served) {
    return fail(errors::configuration("opts.am2z.node", "job " + job.key() + " names node '" + env->node +
                                                            "', which is not served by queue '" + b.name + "'"));
  }
  if (env->join && env->join->queue != b.flow->join_keys()) {
    return fail(errors::configuration("opts.am2z.join", "job " + job.key() + " names join queue '" +
                                                            env->join->queue.substr(0, 80) + "', not its flow's '" +
                                                            b.flow->join_keys() + "'"));
  }
  return {};
}

void Worker::Impl::run_leaf(FetchedJob job, std::shared_ptr<Binding> b) {
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
    f.finished_on = now_ms();
    f.job = std::move(job);
    plan_ahead(f);
    std::lock_guard lock(mutex);
    finished.push_back(std::move(f));
    wake.notify_one();
  };

  Status data = read_blob_data(job, f);
  if (!data && data.error().category == ErrorCategory::network) {
    f.interrupted = true;  // stopping while Redis is away: back to wait for another worker
    return finish(State{});
  }
  JobRead in = read_job(job, limits(), space);
  if (!data) in.error = std::move(data.error());
  f.opts = std::move(in.opts);
  f.envelope = std::move(in.envelope);
  f.tell_run_directly = in.envelope_partial;
  if (f.envelope && !f.tell_run_directly && f.envelope->flow_hash != b->flow->hash()) {
    // a run started before this worker reloaded its flow goes on with its own version
    if (auto older = retired_binding(*b, f.envelope->flow_hash)) {
      b = std::move(older);
      f.binding = b;
      f.policy = &b->instance->policy.retry;
      f.max_attempts = std::max(1, b->instance->policy.retry.attempts);
    }
  }
  if (in.foreign) foreign_options(f);
  notify(&WorkerObserver::step_started, job, f, nullptr);
  if (f.envelope && !f.tell_run_directly) {
    // Before anything else: a job that does not belong here must not steer this flow's runs.
    if (auto st = check_envelope(job, *b, *f.envelope); !st) {
      const bool other_version = f.envelope->flow == b->flow->flow().name && f.envelope->flow_hash != b->flow->hash();
      if (other_version && now_ms() - job.number("timestamp") < options.version_wait.count()) {
        f.other_version = true;  // a rolling deployment: another worker may have that version
        return finish(fail(std::move(st.error())));
      }
      f.max_attempts = 1;
      f.tell_run_directly = true;
      return finish(fail(std::move(st.error())));
    }
  }
  if (in.error) {
    f.max_attempts = 1;
    return finish(fail(std::move(*in.error)));
  }
  // Failed by stalled-job recovery (or by BullMQ's failParentOnFailure): checked once the
  // envelope is known, so the run hears of it.
  if (const std::string defa = job.field("defa"); !defa.empty()) {
    f.max_attempts = 1;
    Error e = errors::execution(b->instance->name, defa);
    if (!f.envelope) e.message = defa;  // BullMQ's own wording, as its workers write it
    return finish(fail(std::move(e)));
  }
  std::optional<State> input = std::move(in.state);
  bool cancelled = false;
  if (f.envelope) {
    std::lock_guard lock(mutex);
    cancelled = cancelled_runs.contains(f.envelope->run);
  }
  if (cancelled) {
    f.max_attempts = 1;
    return finish(fail(errors::cancelled("run " + f.envelope->run + " was cancelled by its submitter")));
  }
  // A composite node around the step has a timeout: past it the step never runs, and a step
  // still running at it is cancelled, both with the node's error, as in-process.
  const NodeDeadline* node_deadline = f.envelope ? f.envelope->deadline() : nullptr;
  const long long left_ms = node_deadline ? node_deadline->at_ms - now_ms() : 0;
  if (node_deadline && left_ms <= 0) {
    f.max_attempts = 1;
    return finish(fail(errors::timeout(node_deadline->label, node_deadline->timeout_ms)));
  }
  if (f.envelope && !job.field("am2zReused").empty()) {
    // A resumed run's step that completed in the run it resumes: its data is that result, which
    // already counts the step in its version. Nothing runs.
    f.reused = true;
    return finish(std::move(*input));
  }

  if (f.envelope && f.envelope->events) {
    note_started(started_event(*f.envelope, b->instance->name, b->instance->type, job.id, f.attempt));
  }
  auto shared = std::make_shared<am2z::detail::RunShared>();
  shared->run_id = f.envelope ? f.envelope->run : job.id;
  shared->session_id = input->meta.session_id;
  shared->logger = log;
  shared->flow = b->flow->flow_ptr();
  shared->max_call_depth = options.max_call_depth;
  shared->pool = pool;
  if (f.envelope && f.envelope->events) shared->events = f.emitted = std::make_shared<BufferedEvents>();
  const CancelToken token = cancel ? cancel->token() : CancelToken();
  Scope scope{shared.get(), &token, kNoDeadline, 0};
  State state = std::move(*input);  // no copy: a failure reads the job's input again (below)
  // The instance's concurrency and rate limits held when the job was fetched, across every
  // worker (lua/step.lua, op "M"): the step runs at once.
  Status st = node_deadline ? run_guarded(
                                  [&](State& s, const Scope& sc) {
                                    return run_attempt(b->instance, s, sc, 1, static_cast<int>(f.attempt));
                                  },
                                  state, scope, SteadyClock::now() + Millis(left_ms), node_deadline->label,
                                  Millis(node_deadline->timeout_ms))
                            : run_attempt(b->instance, state, scope, 1, static_cast<int>(f.attempt));
  if (st) {
    state.meta.bump();
    return finish(std::move(state));
  }
  Error e = std::move(st.error());
  if (node_deadline && now_ms() >= node_deadline->at_ms) {
    f.max_attempts = 1;  // the node is over: no retry of the step
    if (e.category != ErrorCategory::timeout) e = errors::timeout(node_deadline->label, node_deadline->timeout_ms);
  }
  annotate_failure(e, *b->instance);
  if (stopping.load() && token.cancelled()) f.interrupted = true;
  if (!e.partial_state) {
    // The job's input as it was read before the step ran (the step may have changed `state`).
    JobRead again = read_job(job, limits(), space);
    e.partial_state = std::make_shared<const Json>(again.state ? again.state->to_json() : Json::object());
  }
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
    } else {
      delay = foreign_backoff_ms(f);
    }
    ops.retry(job.queue, job.id, job.token, f.processed_on, f.attempt, e.message, error_stack(e), delay);
    if (events_on(f)) {
      step_end_events(
          f, ops, event::kProcessorRetrying,
          EventMembers().number("nextAttempt", f.attempt + 1).number("delayMs", delay).json("error", e.to_json()));
    }
    notify(&WorkerObserver::step_retried, job, f, &e);
    return;
  }
  if (f.attempt > 1) e.context["attempts"] = f.attempt;
  ops.fail_final(job.queue, job.id, job.token, f.processed_on, f.attempt, e.message, error_stack(e),
                 retention(f.opts, "removeOnFail", options.keep_failed));
  if (!f.data_blob.empty()) ops.expire_blob(f.data_blob, blob_ttl(f));
  if (events_on(f)) {
    step_end_events(f, ops, event::kProcessorFailed,
                    EventMembers().number("durationMs", duration_of(f)).json("error", e.to_json()));
  }
  notify(&WorkerObserver::step_failed, job, f, &e);
  if (!f.envelope) return foreign_failed(f, e, ops);
  if (cancelled_runs.contains(f.envelope->run)) return;  // nobody waits for it any more
  const std::string key = job.key();
  if (f.tell_run_directly) {
    // This worker cannot place the job in its flow: tell the run directly.
    const auto end = OpList::end_for(e.category);
    ops.outcome(f.envelope->reply, dump_text(outcome_payload(f.envelope->run, fail(std::move(e)))),
                f.envelope->reply_ttl_ms, space.run_result(f.envelope->run),
                f.envelope->named_session() ? f.envelope->session : std::string(), end,
                f.envelope->recorded ? space.run_record(f.envelope->run) : std::string());
    return;
  }
  f.binding->planner->finished(*f.envelope, key, fail(std::move(e)), ops);
}

long long Worker::Impl::blob_ttl(const Finished& f) {
  // as long as the run's outcome; a day when that is kept for ever (0) or unknown
  return f.envelope && f.envelope->reply_ttl_ms > 0 ? f.envelope->reply_ttl_ms : kDefaultBlobTtlMs;
}

void Worker::Impl::finish_ops(Finished& f, OpList& ops) {
  ops.begin_group();
  FetchedJob& job = f.job;
  // Its queue's active jobs are capped across workers and this one's slot frees up: this call
  // fetches from the queue too (after the finishes), so the slot is refilled without waiting
  // for a wake-up, and wakes another worker in case this one has no slot left for it.
  if (f.binding->instance && f.binding->instance->policy.concurrency > 0) {
    ops.wake(job.queue);
    f.binding->maybe_ready = true;
  }
  if (f.other_version) {
    // back in a second, attempt not counted, so a worker with the job's version may take it
    const std::string why = "waiting for a worker with its flow's version (sha256 " +
                            f.envelope->flow_hash.substr(0, 12) + "): " + f.outcome.error().message;
    log->debug("{}: {}", job.key(), why);
    ops.retry(job.queue, job.id, job.token, f.processed_on, f.attempt - 1, why, "[]", kOtherVersionRetryMs);
    return;
  }
  if (f.interrupted) {  // shutdown: back to wait for another worker, this attempt not counted
    ops.retry(job.queue, job.id, job.token, f.processed_on, f.attempt - 1, "worker shutting down", "[]", 0);
    const Error why = f.outcome ? errors::cancelled("worker shutting down") : f.outcome.error();
    if (!f.never_started) notify(&WorkerObserver::step_retried, job, f, &why);
    return;
  }
  if (!f.outcome) return leaf_failed(f, std::move(f.outcome.error()), ops);
  if (!f.planned_ahead) plan_ahead(f);  // a join merged here, on the dispatcher
  // the value goes into the call as it is (a big join's state is megabytes); a foreign job's
  // completion below still reads it
  ops.complete(job.queue, job.id, job.token, f.processed_on, f.attempt, f.envelope ? std::move(f.value) : f.value,
               retention(f.opts, "removeOnComplete", options.keep_completed), blob_ttl(f));
  if (!f.data_blob.empty()) ops.expire_blob(f.data_blob, blob_ttl(f));
  if (events_on(f)) {
    EventMembers members;
    members.number("durationMs", duration_of(f)).number("version", f.version);
    if (f.reused) members.text("reused", job.field("am2zReused"));
    step_end_events(f, ops, event::kProcessorCompleted, std::move(members));
  }
  notify(&WorkerObserver::step_finished, job, f, nullptr);
  if (!f.envelope) return foreign_completed(f, f.value, ops);
  if (!cancelled_runs.contains(f.envelope->run)) ops.append_open_group(std::move(f.continuation));
}

void Worker::Impl::plan_ahead(Finished& f) const {
  if (!f.outcome || f.interrupted) return;
  f.planned_ahead = true;
  f.value = f.outcome->to_text();
  f.version = f.outcome->meta.version;
  if (f.envelope && !f.tell_run_directly) {
    f.binding->planner->finished(*f.envelope, f.job.key(), std::move(f.outcome), f.continuation, f.value);
  }
}

void Worker::Impl::take_join(FetchedJob job, const std::shared_ptr<Binding>& b, OpList& ops) {
  // Merging costs about a microsecond per child here, many times that in sanitizer builds; a join
  // whose children are still to be read waits on Redis.
  // So does one whose state was kept out of line (blobs.hpp).
  if (job.children_to_read == 0 && job.succeeded.size() + job.failed.size() < kJoinInlineChildren &&
      !blob_ref(job.field("data"))) {
    Finished f = settle_join(std::move(job), b);
    finish_ops(f, ops);
    return;
  }
  track_active(job);
  {
    std::lock_guard lock(mutex);
    ++joins_merging;
  }
  pool->submit([this, b, j = std::move(job)]() mutable {
    Finished f = settle_join(std::move(j), b);
    plan_ahead(f);
    std::lock_guard lock(mutex);
    finished.push_back(std::move(f));
    wake.notify_one();
  });
}

Finished Worker::Impl::settle_join(FetchedJob job, std::shared_ptr<Binding> b) {
  Finished f;
  f.binding = b;
  f.processed_on = now_ms();
  f.attempt = job.number("atm") + 1;
  Status data = read_blob_data(job, f);
  if (!data && data.error().category == ErrorCategory::network) return interrupted(std::move(f), std::move(job));
  JobRead in = read_job(job, limits(), space);
  if (!data) in.error = std::move(data.error());
  f.opts = std::move(in.opts);
  f.envelope = std::move(in.envelope);
  f.tell_run_directly = in.envelope_partial;
  if (f.envelope && !f.tell_run_directly && f.envelope->flow_hash != b->flow->hash()) {
    if (auto older = retired_binding(*b, f.envelope->flow_hash)) {  // as run_leaf
      b = std::move(older);
      f.binding = b;
    }
  }
  if (f.envelope && !f.tell_run_directly) {
    if (auto st = check_envelope(job, *b, *f.envelope); !st) {
      in.error = std::move(st.error());
      f.tell_run_directly = true;
    }
  } else if (!f.envelope && !in.error) {
    in.error = errors::validation(job.key() + " opts.am2z", nullptr, "is missing: a join job must come from am2z");
  }
  notify(&WorkerObserver::step_started, job, f, nullptr);
  if (!in.error && job.children_to_read > 0) {
    f.big_join = true;
    if (Status st = read_children(job); !st) {
      if (stopping.load()) return interrupted(std::move(f), std::move(job));
      in.error = std::move(st.error());  // not a hash, say: the join fails naming the key
    }
  }
  if (in.error) {
    f.outcome = fail(std::move(*in.error));
  } else if (const std::string defa = job.field("defa"); !defa.empty()) {
    f.outcome = fail(errors::execution(
        b->flow->entries()[static_cast<std::size_t>(b->flow->find(f.envelope->node))].node->label(), defa));
  } else if (job.children_to_read > 0) {
    ScannedChildren scanned(*this, job.key() + ":processed");
    f.outcome = b->planner->settle_join(*f.envelope, std::move(*in.state), scanned, job.failed, job.errors);
    if (scanned.failure()) {
      if (stopping.load()) return interrupted(std::move(f), std::move(job));
      f.outcome = fail(std::move(*scanned.failure()));
    }
  } else {
    f.outcome =
        b->planner->settle_join(*f.envelope, std::move(*in.state), std::move(job.succeeded), job.failed, job.errors);
  }
  f.finished_on = now_ms();
  f.job = std::move(job);
  return f;
}

Finished Worker::Impl::interrupted(Finished f, FetchedJob job) const {
  f.interrupted = true;  // stopping before Redis answered: back to wait for another worker
  f.outcome = State{};
  f.finished_on = now_ms();
  f.job = std::move(job);
  return f;
}

}  // namespace am2z::redis
