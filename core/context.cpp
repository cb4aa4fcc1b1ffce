#include "core/context.hpp"

#include "core/flow.hpp"
#include "core/task_pool.hpp"

namespace am2z {

TaskPool& detail::RunShared::tasks() const { return pool ? *pool : TaskPool::shared(); }

void detail::RunShared::send(std::string_view name, Json payload) const {
  payload["event"] = name;
  payload["ts"] = format_timestamp(SystemClock::now());
  payload["runId"] = run_id;
  payload["sessionId"] = session_id;
  events->publish(payload);
}

void detail::RunShared::publish(std::string_view name, Json payload) const {
  std::lock_guard lock(event_mutex);
  if (!closed) send(name, std::move(payload));
}

void detail::RunShared::publish_final(std::string_view name, Json payload) {
  std::lock_guard lock(event_mutex);
  closed = true;
  send(name, std::move(payload));
}

void Context::emit(std::string_view event, Json data) const {
  if (scope_.run->events == nullptr) return;
  scope_.run->publish(event, Json{{"processor", processor_},
                                  {"executionId", execution_id()},
                                  {"attempt", attempt_},
                                  {"data", std::move(data)}});
}

std::string Context::execution_id() const { return scope_.run->run_id + "/" + std::to_string(step_); }

Result<State> Context::call(std::string_view name, State state) const {
  const Flow& flow = *scope_.run->flow;
  const Node* target = flow.find_callable(name);
  if (target == nullptr) {
    std::string available;
    for (const auto& [n, node] : flow.callables) available += (available.empty() ? "" : ", ") + n;
    return fail(errors::processor_not_found(std::string(name), available));
  }
  if (scope_.depth >= scope_.run->max_call_depth) {
    return fail(errors::call_depth_exceeded(scope_.run->max_call_depth, scope_.depth));
  }
  Scope nested = scope_;
  nested.depth = scope_.depth + 1;
  if (auto st = target->execute(state, nested); !st) {
    Error e = std::move(st.error());
    if (!e.partial_state) e.partial_state = std::make_shared<const Json>(state.to_json());
    return fail(std::move(e));
  }
  return state;
}

}  // namespace am2z
