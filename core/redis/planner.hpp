#pragma once
// How a flow runs as jobs: every processor step is a job on its processor's queue, and every
// parallel or batch is a join job in waiting-children on the flow's join queue, released when
// its last branch or item ends. The planner turns "this step finished" into the operations that
// finish it and schedule what follows, which lua/step.lua then applies atomically. What follows
// is each kind's own choice (Node::plan_start, plan_child_end, settle_join in core/kinds/); the
// planner only implements DistributedPlan with jobs, job ids and join deliveries.
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/flow.hpp"
#include "core/redis/envelope.hpp"
#include "core/redis/key_space.hpp"
#include "core/redis/op_list.hpp"

namespace am2z::redis {

/// Where one node of the flow graph stands.
struct NodeEntry {
  const Node* node = nullptr;
  std::string path;  ///< "n" for the root, "n.<i>" for the i-th child of n, and so on
  int parent = -1;
  std::size_t position = 0;  ///< index among the parent's children
  std::vector<int> children;
};

/// A flow as workers and submitters share it: the graph, its positions, its content hash.
class PlannedFlow : public std::enable_shared_from_this<PlannedFlow> {
 public:
  PlannedFlow(std::shared_ptr<const Flow> flow, std::string content_hash, KeySpace keys);

  const Flow& flow() const { return *flow_; }
  const std::shared_ptr<const Flow>& flow_ptr() const { return flow_; }
  const std::string& hash() const { return hash_; }
  const KeySpace& keys() const { return keys_; }
  const std::vector<NodeEntry>& entries() const { return entries_; }
  /// -1 when the path names no node.
  int find(const std::string& path) const;
  std::string join_keys() const { return keys_.queue(keys_.join_queue(flow_->name)); }
  std::string processor_keys(const std::string& instance) const {
    return keys_.queue(keys_.processor_queue(flow_->name, instance));
  }

 private:
  int add(const Node* node, std::string path, int parent, std::size_t position);
  std::shared_ptr<const Flow> flow_;
  std::string hash_;
  KeySpace keys_;
  std::vector<NodeEntry> entries_;
  std::unordered_map<std::string, int> by_path_;
};

/// The queues a run of `flow` puts jobs on: one per processor instance (a remote processor's
/// named queue instead) and, when the flow has a parallel or batch, its join queue.
std::vector<std::string> queues_of(const PlannedFlow& flow);

/// What a run's waiter receives: {"run", "ok", "state"} or {"run", "ok": false, "error"}.
Json outcome_payload(const std::string& run, const Result<State>& outcome);
/// dump_text(outcome_payload(run, outcome)), without copying a successful state into a JSON
/// object first.
std::string outcome_text(const std::string& run, const Result<State>& outcome, std::string_view state_text = {});

class Planner {
 public:
  explicit Planner(const PlannedFlow& flow) : flow_(flow) {}

  /// Schedules the root of a new run. `run` carries run, session, reply, ttl and start time.
  /// `new_group`: in a group of its own; false: in the group the caller opened (and filled with
  /// what must stand or fall with the run's first jobs).
  void start_run(State input, Envelope run, OpList& ops, bool new_group = true) const;

  /// The job at `self.node` (key `self_key`) ended with `outcome`: schedules what follows.
  /// A failure's partial state must already be set to the job's input. `state_text`, when not
  /// empty, is `outcome->to_text()` already written (the finish's returnvalue): a run that ends
  /// with this step takes it into its outcome instead of writing the state again.
  void finished(const Envelope& self, const std::string& self_key, Result<State> outcome, OpList& ops,
                std::string_view state_text = {}) const;

  using ChildValues = std::vector<std::pair<std::string, std::string>>;
  /// A join's succeeded children as (child key, state JSON) pairs, one at a time: a big join's
  /// are read from Redis as the join merges them.
  class SucceededChildren {
   public:
    virtual ~SucceededChildren() = default;
    /// The next child; nullopt once every one was given (or reading them failed: the reader
    /// says so, and the join's result is then not used).
    virtual std::optional<std::pair<std::string, std::string>> next() = 0;
  };
  /// A join's result from what its children left: child key → state JSON (succeeded), child key →
  /// failedReason (failed), child key → error JSON (errors). Which branch or item a child was is
  /// read from its key (the job id carries the node path and batch scope). Each succeeded child is
  /// parsed and merged before the next is taken: a batch's children are 100,000 of them.
  Result<State> settle_join(const Envelope& self, State base, SucceededChildren& succeeded, const ChildValues& failed,
                            const std::unordered_map<std::string, std::string>& errors) const;
  /// The same, the succeeded children given in a list.
  Result<State> settle_join(const Envelope& self, State base, ChildValues succeeded, const ChildValues& failed,
                            const std::unordered_map<std::string, std::string>& errors) const;

 private:
  class Step;
  class BranchFeed;
  /// Starts node `e` on `state`; `child_key` is the finishing job a join delivery refers to.
  /// Sets `added` when new jobs were added under `env.join`.
  void start(int e, State state, Envelope env, const std::string& child_key, OpList& ops, bool& added) const;
  /// Node `e` ended: its parent decides what follows (the next step, a join delivery), or the run ends.
  void done(int e, Result<State> outcome, Envelope env, const std::string& child_key, OpList& ops, bool& added,
            std::string_view state_text = {}) const;
  void add_job(int e, const State& state, const Envelope& env, bool join, OpList& ops) const;
  void add_remote(int e, const State& state, const Envelope& env, OpList& ops) const;
  Result<State> settle_remote(const Node* node, State base, const ChildValues& succeeded,
                              const ChildValues& failed) const;

  const PlannedFlow& flow_;
};

}  // namespace am2z::redis
