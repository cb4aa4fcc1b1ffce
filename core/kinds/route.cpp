#include "core/kinds/route.hpp"

namespace am2z {

std::vector<const Node*> RouteNode::children() const {
  std::vector<const Node*> out;
  for (const auto& [key, node] : cases_) out.push_back(node.get());
  if (fallback_) out.push_back(fallback_.get());
  return out;
}

std::string RouteNode::key_of(const Json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

Status RouteNode::run(State& state, const Scope& scope) const {
  auto target = select(state);
  if (!target) return fail(std::move(target.error()));
  return (*target)->execute(state, scope);
}

Result<const Node*> RouteNode::select(const State& state) const {
  const Json* value = selector_.find(state.data);
  const std::string key = value != nullptr ? key_of(*value) : std::string();
  if (value != nullptr) {
    for (const auto& [case_key, node] : cases_) {
      if (case_key == key) return node.get();
    }
  }
  if (fallback_) return fallback_.get();
  std::string cases;
  for (const auto& [case_key, node] : cases_) cases += (cases.empty() ? "" : ", ") + case_key;
  std::string why = value != nullptr ? "no route for value " + value->dump() + " at " + selector_.text()
                                     : "no route: " + selector_.text() + " is not in the state";
  Error e = errors::execution(label(), why + " and no default is set (cases: " + cases + ")");
  e.code = "ROUTE_NOT_FOUND";
  e.retryable = false;
  e.context["route"] = label();
  e.context["selector"] = selector_.text();
  e.context["value"] = value != nullptr ? *value : Json();
  return fail(std::move(e));
}

void RouteNode::plan_start(State state, DistributedPlan& plan) const {
  auto target = select(state);
  if (!target) return plan.finish(fail(with_partial(std::move(target.error()), state)));
  const auto targets = children();
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (targets[i] == *target) return plan.start_child(i, std::move(state));
  }
  plan.finish(fail(errors::execution(label(), "route target not found")));
}

}  // namespace am2z
