#include "core/runner.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <random>

#include "core/guarded.hpp"

namespace am2z {

std::string new_run_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return buf;
}

RunOutcome run_flow(std::shared_ptr<const Flow> flow, State input, const RunOptions& options) {
  auto run = std::make_shared<detail::RunShared>();
  run->run_id = options.run_id.empty() ? new_run_id() : options.run_id;
  run->journal = options.journal;
  run->progress = options.progress;
  if (!options.session_id.empty()) input.meta.session_id = options.session_id;
  if (input.meta.session_id.empty()) input.meta.session_id = "session-" + run->run_id;
  run->session_id = input.meta.session_id;
  run->events = options.events;
  run->logger = options.logger ? options.logger : spdlog::default_logger();
  run->flow = flow;
  run->max_call_depth = options.max_call_depth;
  run->pool = options.pool;

  CancelSource root(options.cancel);
  const CancelToken token = root.token();
  Scope scope{run.get(), &token, kNoDeadline, 0};

  if (run->events) run->publish(event::kFlowStarted, Json{{"flow", flow->name}});
  const auto started = SteadyClock::now();
  Status st;
  if (options.timeout || options.cancel.can_be_cancelled()) {
    // Guarded: the caller gets its answer at the deadline or on Ctrl-C even if a step ignores
    // its cancellation token.
    const Millis budget = options.timeout.value_or(Millis(0));
    const Deadline deadline = options.timeout ? deadline_after(scope, budget) : kNoDeadline;
    st = run_guarded([flow](State& s, const Scope& sc) { return flow->root->execute(s, sc); }, input, scope, deadline,
                     flow->name, budget);
  } else {
    st = flow->root->execute(input, scope);
  }
  RunOutcome out;
  out.elapsed = std::chrono::duration_cast<Millis>(SteadyClock::now() - started);
  out.run_id = run->run_id;
  if (!st) {
    out.error = std::move(st.error());
    if (!out.error->partial_state) out.error->partial_state = std::make_shared<const Json>(input.to_json());
    if (run->events) {
      run->publish_final(
          event::kFlowFailed,
          Json{{"flow", flow->name}, {"durationMs", out.elapsed.count()}, {"error", out.error->to_json()}});
    }
  } else if (run->events) {
    run->publish_final(
        event::kFlowCompleted,
        Json{{"flow", flow->name}, {"durationMs", out.elapsed.count()}, {"version", input.meta.version}});
  }
  out.state = std::move(input);
  return out;
}

}  // namespace am2z
