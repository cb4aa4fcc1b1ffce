#pragma once
// The node every kind derives from, and the processor leaf. Each composite kind (chain, parallel,
// route, batch) lives in core/kinds/ with its local run() and its distributed behaviour side by
// side; core/node.hpp includes them all.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cancel.hpp"
#include "core/context.hpp"
#include "core/kinds/distributed.hpp"
#include "core/limiter.hpp"
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

  /// Distributed: the node starts on `state`. By default it runs as one job.
  virtual void plan_start(State state, DistributedPlan& plan) const { plan.run_as_job(state); }
  /// Distributed: child `position` ended with `outcome`. By default so does this node.
  virtual void plan_child_end(std::size_t position, Result<State> outcome, DistributedPlan& plan) const;
  /// Distributed: the result of a node that fanned out, from its children's results; `where`
  /// names the node for messages. Kinds that never fan out refuse.
  virtual Result<State> settle_join(State base, JoinChildren& children, const std::string& where) const;
  /// Distributed: whether the node ends through a join job (it fans out, or it waits for another
  /// worker's queue), so a job of its flow's join queue may name it.
  virtual bool settles_in_join() const { return false; }
  /// Whether running the node takes microseconds and never blocks (built-in state transforms
  /// without a timeout, retries or limits, and chains of them): a parallel runs such branches on
  /// its own thread, where a hand-off to another would cost more than the branch.
  virtual bool instant() const { return false; }

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

namespace detail {
/// Raw pointers to owned child nodes, in order.
template <class Ptrs>
std::vector<const Node*> raw_nodes(const Ptrs& nodes) {
  std::vector<const Node*> out;
  out.reserve(nodes.size());
  for (const auto& n : nodes) out.push_back(n.get());
  return out;
}
}  // namespace detail

/// Runs one processor instance with its policy: limits, timeout, retries, events. The policy is
/// read once here (the fast path is chosen at construction), so finish it before building the node.
class ProcessorNode final : public Node {
 public:
  explicit ProcessorNode(std::shared_ptr<const ProcessorInstance> instance);
  NodeKind kind() const override { return NodeKind::processor; }
  std::vector<const Node*> children() const override { return {}; }
  bool settles_in_join() const override { return instance().remote_queue().has_value(); }
  bool instant() const override { return plain_ && !timeout && instance_->impl && instance_->impl->instant(); }
  const ProcessorInstance& instance() const { return *instance_; }
  const std::shared_ptr<const ProcessorInstance>& instance_ptr() const { return instance_; }

 protected:
  Status run(State& state, const Scope& scope) const override;

 private:
  Status run_step(State& state, const Scope& scope) const;
  /// A run with a journal: a step the resumed run completed takes its result; one that succeeds is recorded.
  Status run_journaled(State& state, const Scope& scope) const;
  Status run_with_policy(State& state, const Scope& scope) const;
  Status attempt(State& state, const Scope& scope, int attempt_no) const;
  std::shared_ptr<const ProcessorInstance> instance_;
  bool plain_;
};

}  // namespace am2z
