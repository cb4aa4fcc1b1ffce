#pragma once
// The flow graph the engine runs: processor leaves and chain / parallel / route / batch nodes.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cancel.hpp"
#include "core/context.hpp"
#include "core/json_path.hpp"
#include "core/limiter.hpp"
#include "core/merge.hpp"
#include "core/policy.hpp"
#include "core/processor.hpp"

namespace am2z {

enum class NodeKind { processor, chain, parallel, route, batch };
std::string_view to_string(NodeKind k);

/// A named, configured processor: shared by every node that refers to it, so its concurrency
/// and rate limits hold across all of its uses in a run.
struct ProcessorInstance {
  std::string name;
  std::string type;
  std::string description;
  Json with = Json::object();
  std::unique_ptr<const Processor> impl;
  StepPolicy policy;
  std::unique_ptr<ConcurrencyLimiter> concurrency;  ///< set when policy.concurrency > 0
  std::unique_ptr<RateLimiter> rate;                ///< set when policy.rate.count > 0

  /// Creates the limiters the policy asks for.
  void init_limits();
  /// The queue another worker does this step on, nullopt when it runs in-process.
  std::optional<std::string> remote_queue() const { return impl ? impl->remote_queue() : std::nullopt; }
};

class Node {
 public:
  explicit Node(std::string label) : label_(std::move(label)) {}
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// Runs the node, enforcing its own timeout if it has one.
  Status execute(State& state, const Scope& scope) const;

  virtual NodeKind kind() const = 0;
  /// Direct children in declaration order (for graphs and validation).
  virtual std::vector<const Node*> children() const = 0;
  const std::string& label() const { return label_; }

  std::optional<Millis> timeout;  ///< whole-node timeout (composites)

 protected:
  virtual Status run(State& state, const Scope& scope) const = 0;

 private:
  std::string label_;
};

using NodePtr = std::shared_ptr<const Node>;

/// One attempt of `instance` on `state`: its per-attempt timeout enforced, no retries, limits or
/// events. Shared by the local runtime and the distributed worker.
Status run_attempt(const std::shared_ptr<const ProcessorInstance>& instance, State& state, const Scope& scope,
                   std::uint64_t step, int attempt_no);
/// Adds the failed processor's name to an error's context.
void annotate_failure(Error& e, const ProcessorInstance& instance);
/// A chain's failure context: which chain, how many steps completed (the innermost chain wins).
void annotate_chain_failure(Error& e, const std::string& chain, std::size_t completed, std::size_t total);

/// Runs one processor instance with its policy: limits, timeout, retries, events. The policy is
/// read once here (the fast path is chosen at construction), so finish it before building the node.
class ProcessorNode final : public Node {
 public:
  explicit ProcessorNode(std::shared_ptr<const ProcessorInstance> instance);
  NodeKind kind() const override { return NodeKind::processor; }
  std::vector<const Node*> children() const override { return {}; }
  const ProcessorInstance& instance() const { return *instance_; }
  const std::shared_ptr<const ProcessorInstance>& instance_ptr() const { return instance_; }

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  Status run_with_policy(State& state, const Scope& scope) const;
  Status attempt(State& state, const Scope& scope, int attempt_no) const;
  std::shared_ptr<const ProcessorInstance> instance_;
  bool plain_;
};

/// Steps in order, each on the previous one's output; stops at the first failure.
class ChainNode final : public Node {
 public:
  ChainNode(std::string label, std::vector<NodePtr> steps) : Node(std::move(label)), steps_(std::move(steps)) {}
  NodeKind kind() const override { return NodeKind::chain; }
  std::vector<const Node*> children() const override;

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  std::vector<NodePtr> steps_;
};

/// Branches run concurrently on copies of the same input; all-or-nothing, then merged.
class ParallelNode final : public Node {
 public:
  ParallelNode(std::string label, std::vector<NodePtr> branches, MergeStrategy merge)
      : Node(std::move(label)), branches_(std::move(branches)), merge_(merge) {}
  NodeKind kind() const override { return NodeKind::parallel; }
  std::vector<const Node*> children() const override;
  MergeStrategy merge() const { return merge_; }

  /// Merges branch outputs into `state` (their data by the merge strategy, versions summed).
  void merge_outputs(State& state, std::vector<State> outputs) const;
  /// The error the parallel reports for a failed branch.
  Error branch_failure(Error e, std::size_t branch) const;

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  std::vector<NodePtr> branches_;
  MergeStrategy merge_;
};

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

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  JsonPath selector_;
  std::vector<std::pair<std::string, NodePtr>> cases_;
  NodePtr fallback_;
};

enum class BatchMode { fail_fast, collect };

/// Where a batch's payloads come from and how its result is stored.
struct BatchSpec {
  std::optional<Json> items;           ///< a static list
  std::optional<JsonPath> items_path;  ///< or a path to an array in the state
  int concurrency = 8;
  BatchMode mode = BatchMode::fail_fast;
  JsonPath output = *JsonPath::parse(".batch");  ///< where {results, errors, counts} goes
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
  /// The error a fail-fast batch reports for item `index`.
  Error item_failure(Error e, std::size_t index) const;
  /// Writes {results, errors, counts} for settled items (in item order) into `state`.
  Status store_output(State& state, std::vector<Result<State>> items) const;

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  NodePtr target_;
  BatchSpec spec_;
};

}  // namespace am2z
