#include <random>

#include "core/guarded.hpp"
#include "core/node_base.hpp"
#include "core/step_journal.hpp"

namespace am2z {

namespace {

double unit_random() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

/// Holds a concurrency slot for one attempt.
class SlotGuard {
 public:
  explicit SlotGuard(ConcurrencyLimiter* limiter) : limiter_(limiter) {}
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;
  ~SlotGuard() {
    if (limiter_ != nullptr) limiter_->release();
  }

 private:
  ConcurrencyLimiter* limiter_;
};

}  // namespace

void annotate_failure(Error& e, const ProcessorInstance& inst) {
  if (!e.context.is_object()) e.context = Json{{"value", e.context}};
  if (!e.context.contains("failedProcessor")) e.context["failedProcessor"] = inst.name;
}

Status run_attempt(const std::shared_ptr<const ProcessorInstance>& instance, State& state, const Scope& scope,
                   std::uint64_t step, int attempt_no) {
  const auto& limit = instance->policy.timeout;
  if (!limit) {
    Context ctx(scope, instance->name, step, attempt_no);
    return instance->impl->process(state, ctx);
  }
  return run_guarded(
      [instance, step, attempt_no](State& s, const Scope& sc) {
        Context ctx(sc, instance->name, step, attempt_no);
        return instance->impl->process(s, ctx);
      },
      state, scope, deadline_after(scope, *limit), instance->name, *limit);
}

void ProcessorInstance::init_limits() {
  concurrency = policy.concurrency > 0 ? std::make_unique<ConcurrencyLimiter>(policy.concurrency) : nullptr;
  rate = policy.rate.count > 0 ? std::make_unique<RateLimiter>(policy.rate) : nullptr;
}

ProcessorNode::ProcessorNode(std::shared_ptr<const ProcessorInstance> instance)
    : Node(instance->name), instance_(std::move(instance)), plain_(instance_->policy.is_plain()) {}

Status ProcessorNode::run(State& state, const Scope& scope) const {
  if (scope.run->journal != nullptr) [[unlikely]] return run_journaled(state, scope);
  return run_step(state, scope);
}

Status ProcessorNode::run_journaled(State& state, const Scope& scope) const {
  StepJournal& journal = *scope.run->journal;
  const std::string* path = scope.depth == 0 ? journal.path_of(this) : nullptr;  // not a ctx.call's steps
  if (path == nullptr) return run_step(state, scope);
  const std::string key = StepJournal::key(*path, scope.item);
  if (auto reused = journal.reuse(key)) {
    auto restored = State::from_json(std::move(*reused), scope.run->session_id);
    if (restored) {
      restored->meta.session_id = scope.run->session_id;
      state = std::move(*restored);
      if (scope.run->events) {
        scope.run->publish(event::kProcessorCompleted, Json{{"processor", instance_->name},
                                                            {"type", instance_->type},
                                                            {"attempt", 0},
                                                            {"durationMs", 0},
                                                            {"version", state.meta.version},
                                                            {"reused", true}});
      }
      return {};
    }
    scope.run->logger->warn("the journal's result of step {} cannot be read ({}): it runs again", key,
                            restored.error().message);
  }
  Status st = run_step(state, scope);
  if (st) journal.record(key, state);
  return st;
}

Status ProcessorNode::run_step(State& state, const Scope& scope) const {
  if (plain_ && scope.run->events == nullptr) [[likely]] {
    // The hot path: one virtual call, an integer bump and a clock read; nothing allocated.
    const std::uint64_t step = scope.run->next_step.fetch_add(1, std::memory_order_relaxed);
    Context ctx(scope, instance_->name, step, 1);
    Status st = instance_->impl->process(state, ctx);
    if (RunProgress* p = scope.run->progress.get(); p != nullptr) [[unlikely]] {
      p->steps_done.fetch_add(1, std::memory_order_relaxed);
      if (!st) p->steps_failed.fetch_add(1, std::memory_order_relaxed);
    }
    if (st) [[likely]] {
      state.meta.bump();
      return st;
    }
    annotate_failure(st.error(), *instance_);
    return st;
  }
  return run_with_policy(state, scope);
}

Status ProcessorNode::attempt(State& state, const Scope& scope, int attempt_no) const {
  const std::uint64_t step = scope.run->next_step.fetch_add(1, std::memory_order_relaxed);
  return run_attempt(instance_, state, scope, step, attempt_no);
}

Status ProcessorNode::run_with_policy(State& state, const Scope& scope) const {
  const ProcessorInstance& inst = *instance_;
  const RetryPolicy& retry = inst.policy.retry;
  const int attempts = retry.attempts < 1 ? 1 : retry.attempts;
  detail::RunShared& run = *scope.run;
  if (inst.policy.delay.count() > 0) {
    // as across workers, where the step's job waits in BullMQ's delayed set before it is taken
    const Deadline wake = SteadyClock::now() + inst.policy.delay;
    if (scope.token->wait_until(wake < scope.deadline ? wake : scope.deadline)) {
      return fail(errors::cancelled(scope.token->reason()));
    }
    if (SteadyClock::now() < wake) {
      return fail(errors::cancelled("deadline passed while '" + inst.name + "' waited for its delay"));
    }
  }
  for (int n = 1;; ++n) {
    if (scope.token->cancelled()) return fail(errors::cancelled(scope.token->reason()));
    if (inst.rate) {
      if (auto st = inst.rate->acquire(*scope.token, scope.deadline, inst.name); !st) return st;
    }
    if (inst.concurrency) {
      if (auto st = inst.concurrency->acquire(*scope.token, scope.deadline, inst.name); !st) return st;
    }
    Status st;
    const auto started = SteadyClock::now();
    {
      SlotGuard slot(inst.concurrency.get());
      if (run.events) {
        run.publish(event::kProcessorStarted, Json{{"processor", inst.name}, {"type", inst.type}, {"attempt", n}});
      }
      st = attempt(state, scope, n);
    }
    const auto ms = std::chrono::duration_cast<Millis>(SteadyClock::now() - started).count();
    if (st) {
      state.meta.bump();
      if (run.progress) run.progress->steps_done.fetch_add(1, std::memory_order_relaxed);
      if (run.events) {
        run.publish(event::kProcessorCompleted, Json{{"processor", inst.name},
                                                     {"type", inst.type},
                                                     {"attempt", n},
                                                     {"durationMs", ms},
                                                     {"version", state.meta.version}});
      }
      return st;
    }
    annotate_failure(st.error(), inst);
    const bool again = n < attempts && retry.should_retry(st.error()) && !scope.token->cancelled();
    if (!again) {
      if (run.progress) {
        run.progress->steps_done.fetch_add(1, std::memory_order_relaxed);
        run.progress->steps_failed.fetch_add(1, std::memory_order_relaxed);
      }
      if (run.events) {
        run.publish(event::kProcessorFailed, Json{{"processor", inst.name},
                                                  {"type", inst.type},
                                                  {"attempt", n},
                                                  {"durationMs", ms},
                                                  {"error", st.error().to_json()}});
      }
      if (n > 1) st.error().context["attempts"] = n;
      return st;
    }
    const Millis delay = retry.backoff_after(n, unit_random());
    if (run.events) {
      run.publish(event::kProcessorRetrying, Json{{"processor", inst.name},
                                                  {"type", inst.type},
                                                  {"attempt", n},
                                                  {"nextAttempt", n + 1},
                                                  {"delayMs", delay.count()},
                                                  {"error", st.error().to_json()}});
    }
    const Deadline wake = SteadyClock::now() + delay;
    if (scope.token->wait_until(wake < scope.deadline ? wake : scope.deadline)) {
      return fail(errors::cancelled(scope.token->reason()));
    }
    if (SteadyClock::now() >= scope.deadline) return st;
  }
}

bool RetryPolicy::should_retry(const Error& e) const {
  if (e.category == ErrorCategory::cancelled) return false;
  if (on_codes.empty() && on_categories.empty()) return e.retryable;
  for (const auto& code : on_codes) {
    if (code == e.code) return true;
  }
  for (const auto cat : on_categories) {
    if (cat == e.category) return true;
  }
  return false;
}

Millis RetryPolicy::backoff_after(int failed_attempt, double random01) const {
  double ms = static_cast<double>(initial_backoff.count());
  for (int i = 1; i < failed_attempt; ++i) {
    ms *= multiplier;
    if (ms >= static_cast<double>(max_backoff.count())) break;
  }
  if (ms > static_cast<double>(max_backoff.count())) ms = static_cast<double>(max_backoff.count());
  if (jitter > 0) ms *= 1.0 + jitter * (2.0 * random01 - 1.0);
  return Millis(static_cast<long long>(ms < 0 ? 0 : ms));
}

}  // namespace am2z
