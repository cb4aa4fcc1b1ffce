#pragma once
// chain: steps in order, each on the previous one's output.
#include <algorithm>
#include <string>
#include <vector>

#include "core/node_base.hpp"

namespace am2z {

/// A chain's failure context: which chain, how many steps completed (the innermost chain wins).
void annotate_chain_failure(Error& e, const std::string& chain, std::size_t completed, std::size_t total);

/// Steps in order, each on the previous one's output; stops at the first failure.
class ChainNode final : public Node {
 public:
  ChainNode(std::string label, std::vector<NodePtr> steps) : Node(std::move(label)), steps_(std::move(steps)) {}
  NodeKind kind() const override { return NodeKind::chain; }
  std::vector<const Node*> children() const override { return detail::raw_nodes(steps_); }
  bool instant() const override {
    return !timeout && std::all_of(steps_.begin(), steps_.end(), [](const NodePtr& s) { return s->instant(); });
  }

  /// Distributed: the first step starts; an empty chain ends at once.
  void plan_start(State state, DistributedPlan& plan) const override;
  /// Distributed: the next step starts on a step's output; a failure ends the chain.
  void plan_child_end(std::size_t position, Result<State> outcome, DistributedPlan& plan) const override;

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  std::vector<NodePtr> steps_;
};

}  // namespace am2z
