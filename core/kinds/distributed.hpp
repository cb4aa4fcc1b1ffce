#pragma once
// How a node kind runs when a flow is distributed, in terms free of any backend: a kind tells a
// DistributedPlan what follows each event (it starts, a child ends) and settles a join from its
// children's results. core/redis/planner.cpp implements DistributedPlan with job operations.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/state.hpp"

namespace am2z {

/// One branch of a fan-out: which child of the node runs, on what state, for which batch item.
struct Branch {
  std::size_t child = 0;
  State state;
  std::optional<std::size_t> item;  ///< a batch item: the branch's scope gains this index
};

/// What a node does next, from one event of a distributed run. A kind makes exactly one call per
/// event; the backend turns it into jobs, join deliveries or the run's outcome.
class DistributedPlan {
 public:
  virtual ~DistributedPlan() = default;
  /// The node runs as one job of its own (a processor step).
  virtual void run_as_job(const State& state) = 0;
  /// Child `child` (index into the node's children()) runs next on `state`.
  virtual void start_child(std::size_t child, State state) = 0;
  /// The branches run concurrently under a join job on `state`, the node's input; when the last
  /// one has ended the node's settle_join() gives its result. No branches: it settles at once.
  virtual void fan_out(const State& state, std::vector<Branch> branches) = 0;
  /// The node ended with `outcome`: its parent decides what follows.
  virtual void finish(Result<State> outcome) = 0;
  /// A branch ended with `outcome`: it is handed to the join the branch runs under.
  virtual void deliver(Result<State> outcome) = 0;
};

/// A child of a join as the backend found it when the join was released.
struct JoinChild {
  std::string key;       ///< the backend's name for the child, for messages
  long long child = -1;  ///< its position among the join node's children; -1: none
  long long item = -1;   ///< its item index within the join's batch scope; -1: none
  Result<State> result;  ///< the state it ended with, or its error
  std::optional<Error> unreadable;  ///< its result could not be read: the join fails with this
};

/// A join's ended children, handed over one at a time: a batch of 100,000 items is merged as
/// its children are parsed, never holding every child as a state at once.
class JoinChildren {
 public:
  virtual ~JoinChildren() = default;
  /// The next child; nullopt once every child was given. A child may come twice (a backend's
  /// scan may repeat one); the later one counts.
  virtual std::optional<JoinChild> next() = 0;
};

/// No children: a fan-out of no branches settles at once.
class NoJoinChildren final : public JoinChildren {
 public:
  std::optional<JoinChild> next() override { return std::nullopt; }
};

/// Hands each of the join's `n` branches' results to `place(index, result)`, each branch found by
/// `child.*index`; or the error that fails the join (a child that is not a branch, an unreadable
/// result, a branch that never reported). `where` names the join for messages.
Status place_join_results(JoinChildren& children, long long JoinChild::*index, std::size_t n,
                          const std::function<void(std::size_t, Result<State>)>& place, const std::string& label,
                          const std::string& where, const State& base);

/// A failure at the start of a node: its partial state is the node's input unless already set.
Error with_partial(Error e, const State& input);
/// A join's failure: it reports its own input as the partial state, whatever the branch had.
Error join_failure(Error e, const State& base);

}  // namespace am2z
