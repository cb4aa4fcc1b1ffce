#include "core/node_base.hpp"

#include "core/guarded.hpp"

namespace am2z {

std::string_view to_string(NodeKind k) {
  switch (k) {
    case NodeKind::processor:
      return "processor";
    case NodeKind::chain:
      return "chain";
    case NodeKind::parallel:
      return "parallel";
    case NodeKind::route:
      return "route";
    case NodeKind::batch:
      return "batch";
  }
  return "processor";
}

Status Node::execute(State& state, const Scope& scope) const {
  if (!timeout) return run(state, scope);
  return run_guarded([this](State& s, const Scope& sc) { return run(s, sc); }, state, scope,
                     deadline_after(scope, *timeout), label(), *timeout);
}

void Node::plan_child_end(std::size_t /*position*/, Result<State> outcome, DistributedPlan& plan) const {
  plan.finish(std::move(outcome));
}

Result<State> Node::settle_join(State base, JoinChildren& /*children*/, const std::string& where) const {
  return fail(join_failure(errors::validation(where, to_string(kind()), "a " + std::string(to_string(kind())) +
                                                                            " node has no branches to join"),
                           base));
}

}  // namespace am2z
