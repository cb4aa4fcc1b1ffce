#pragma once
// parallel: branches on copies of the same input, all-or-nothing, then merged.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/merge.hpp"
#include "core/node_base.hpp"

namespace am2z {

/// Branches run concurrently on copies of the same input; all-or-nothing, then merged.
class ParallelNode final : public Node {
 public:
  ParallelNode(std::string label, std::vector<NodePtr> branches, MergeStrategy merge)
      : Node(std::move(label)),
        branches_(std::move(branches)),
        merge_(merge),
        short_runs_(std::make_unique<std::atomic<std::uint32_t>[]>(branches_.size())) {}
  NodeKind kind() const override { return NodeKind::parallel; }
  std::vector<const Node*> children() const override { return detail::raw_nodes(branches_); }
  MergeStrategy merge() const { return merge_; }

  /// Distributed: every branch starts on a copy of the input, under the parallel's join.
  void plan_start(State state, DistributedPlan& plan) const override;
  /// Distributed: a branch's end goes to the join.
  void plan_child_end(std::size_t position, Result<State> outcome, DistributedPlan& plan) const override;
  /// Distributed: the branches' outputs merged, or the first failure in declaration order.
  Result<State> settle_join(State base, JoinChildren& children, const std::string& where) const override;
  bool settles_in_join() const override { return true; }
  /// Whether branch i (one that may block) has kept ending fast enough to run on the parallel's
  /// own thread rather than be handed off (see parallel.cpp).
  bool trusted_short(std::size_t i) const;

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  /// Every branch ended (declaration order): the first failure, or their outputs merged into
  /// `state`. Both the local run and the distributed join end here.
  Status combine(State& state, std::vector<Result<State>> outputs) const;
  /// The error the parallel reports for a failed branch.
  Error branch_failure(Error e, std::size_t branch) const;

  /// Runs branch i (one that may block) and learns from how long it took.
  Status run_timed(std::size_t i, State& state, const Scope& scope) const;

  std::vector<NodePtr> branches_;
  MergeStrategy merge_;
  /// Per branch: how many of its last runs in a row ended within kShortRun (saturating). A
  /// hand-off to another thread costs more than a branch that short (parallel.cpp).
  std::unique_ptr<std::atomic<std::uint32_t>[]> short_runs_;
};

}  // namespace am2z
