#pragma once
// batch: one target over many payloads, each its own state; results in item order.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/json_path.hpp"
#include "core/node_base.hpp"

namespace am2z {

enum class BatchMode { fail_fast, collect };

/// Where a batch's payloads come from and how its result is stored.
struct BatchSpec {
  std::optional<Json> items;           ///< a static list
  std::optional<JsonPath> items_path;  ///< or a path to an array in the state
  int concurrency = 8;
  BatchMode mode = BatchMode::fail_fast;
  JsonPath output = *JsonPath::parse(".batch");  ///< where {results, errors, counts} goes
};

/// A batch's items once every one has ended: each item's data in item order (null for a failed
/// item) and the failures by item index. Only the data of an item's state is kept, so a batch of
/// 100,000 items holds one JSON value per item, not a state.
struct BatchSettled {
  std::vector<Json> data;
  std::map<std::size_t, Error> failures;
};

/// One target over many payloads, each payload its own state; results in item order.
class BatchNode final : public Node {
 public:
  BatchNode(std::string label, NodePtr target, BatchSpec spec)
      : Node(std::move(label)), target_(std::move(target)), spec_(std::move(spec)) {}
  NodeKind kind() const override { return NodeKind::batch; }
  std::vector<const Node*> children() const override { return {target_.get()}; }
  const BatchSpec& spec() const { return spec_; }
  const Node& target() const { return *target_; }

  /// The payloads for this state: the static list or the array at the items path.
  Result<const Json*> items_of(const State& state) const;
  /// The state one item runs in.
  static State item_state(const Json& item, const Metadata& parent);

  /// Distributed: the target starts once per item, each in its own item scope, under the join.
  void plan_start(State state, DistributedPlan& plan) const override;
  /// Distributed: an item's end goes to the join.
  void plan_child_end(std::size_t position, Result<State> outcome, DistributedPlan& plan) const override;
  /// Distributed: the items' results in item order; fail-fast stops at the first failure.
  Result<State> settle_join(State base, JoinChildren& children, const std::string& where) const override;
  bool settles_in_join() const override { return true; }

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  /// Every item settled (item order): fail-fast's first failure, or {results, errors, counts}
  /// written into `state`. Both the local run and the distributed join end here.
  Status collect(State& state, BatchSettled items) const;
  /// The error a fail-fast batch reports for item `index`.
  Error item_failure(Error e, std::size_t index) const;
  /// Writes {results, errors, counts} for settled items (in item order) into `state`.
  Status store_output(State& state, BatchSettled items) const;

  NodePtr target_;
  BatchSpec spec_;
};

}  // namespace am2z
