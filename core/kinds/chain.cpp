#include "core/kinds/chain.hpp"

namespace am2z {

void annotate_chain_failure(Error& e, const std::string& chain, std::size_t completed, std::size_t total) {
  Json& ctx = e.context;
  if (!ctx.is_object()) ctx = Json{{"value", ctx}};
  if (!ctx.contains("completedSteps")) {
    ctx["chain"] = chain;
    ctx["completedSteps"] = completed;
    ctx["totalSteps"] = total;
  }
}

Status ChainNode::run(State& state, const Scope& scope) const {
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (scope.token->cancelled()) [[unlikely]]
      return fail(errors::cancelled(scope.token->reason()));
    Status st = steps_[i]->execute(state, scope);
    if (!st) [[unlikely]] {
      // Steps leave the state untouched when they fail, so `state` is now the state before the
      // failing step; the innermost chain records how far it got.
      annotate_chain_failure(st.error(), label(), i, steps_.size());
      return st;
    }
  }
  return {};
}

void ChainNode::plan_start(State state, DistributedPlan& plan) const {
  if (steps_.empty()) return plan.finish(std::move(state));
  plan.start_child(0, std::move(state));
}

void ChainNode::plan_child_end(std::size_t position, Result<State> outcome, DistributedPlan& plan) const {
  if (outcome && position + 1 < steps_.size()) return plan.start_child(position + 1, std::move(*outcome));
  if (!outcome) annotate_chain_failure(outcome.error(), label(), position, steps_.size());
  plan.finish(std::move(outcome));
}

}  // namespace am2z
