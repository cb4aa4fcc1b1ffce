#pragma once
// parallel: branches on copies of the same input, all-or-nothing, then merged.
#include <string>
#include <vector>

#include "core/merge.hpp"
#include "core/node_base.hpp"

namespace am2z {

/// Branches run concurrently on copies of the same input; all-or-nothing, then merged.
class ParallelNode final : public Node {
 public:
  ParallelNode(std::string label, std::vector<NodePtr> branches, MergeStrategy merge)
      : Node(std::move(label)), branches_(std::move(branches)), merge_(merge) {}
  NodeKind kind() const override { return NodeKind::parallel; }
  std::vector<const Node*> children() const override { return detail::raw_nodes(branches_); }
  MergeStrategy merge() const { return merge_; }

  /// Distributed: every branch starts on a copy of the input, under the parallel's join.
  void plan_start(State state, DistributedPlan& plan) const override;
  /// Distributed: a branch's end goes to the join.
  void plan_child_end(std::size_t position, Result<State> outcome, DistributedPlan& plan) const override;
  /// Distributed: the branches' outputs merged, or the first failure in declaration order.
  Result<State> settle_join(State base, std::vector<JoinChild> children, const std::string& where) const override;
  bool settles_in_join() const override { return true; }

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  /// Every branch ended (declaration order): the first failure, or their outputs merged into
  /// `state`. Both the local run and the distributed join end here.
  Status combine(State& state, std::vector<Result<State>> outputs) const;
  /// The error the parallel reports for a failed branch.
  Error branch_failure(Error e, std::size_t branch) const;

  std::vector<NodePtr> branches_;
  MergeStrategy merge_;
};

}  // namespace am2z
