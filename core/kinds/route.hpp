#pragma once
// route: one target, picked by the value at a path in the state.
#include <string>
#include <utility>
#include <vector>

#include "core/json_path.hpp"
#include "core/node_base.hpp"

namespace am2z {

/// Picks one target by the value at a path in the state.
class RouteNode final : public Node {
 public:
  RouteNode(std::string label, JsonPath selector, std::vector<std::pair<std::string, NodePtr>> cases, NodePtr fallback)
      : Node(std::move(label)),
        selector_(std::move(selector)),
        cases_(std::move(cases)),
        fallback_(std::move(fallback)) {}
  NodeKind kind() const override { return NodeKind::route; }
  std::vector<const Node*> children() const override;
  const JsonPath& selector() const { return selector_; }
  const std::vector<std::pair<std::string, NodePtr>>& cases() const { return cases_; }
  const Node* fallback() const { return fallback_.get(); }

  /// The case key a selected value matches: strings as they are, other scalars as JSON text.
  static std::string key_of(const Json& value);
  /// The target for this state, or ROUTE_NOT_FOUND naming the value.
  Result<const Node*> select(const State& state) const;

  /// Distributed: the selected target starts on the route's input; no target ends the route.
  void plan_start(State state, DistributedPlan& plan) const override;

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  JsonPath selector_;
  std::vector<std::pair<std::string, NodePtr>> cases_;
  NodePtr fallback_;
};

}  // namespace am2z
