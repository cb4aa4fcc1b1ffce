#include "core/kinds/parallel.hpp"

#include <chrono>
#include <cstdint>

#include "core/fan_out.hpp"

namespace am2z {

namespace {
/// A branch that may block runs on the parallel's own thread once its last kTrustAfter runs here
/// each ended within kShortRun; a run longer than that hands it off again until it has earned
/// that trust anew. A thread hand-off costs a few microseconds, more than such a branch, and a
/// branch that keeps ending that fast is not one that sleeps or waits for a program (an exec
/// step alone takes longer to start one).
constexpr auto kShortRun = std::chrono::microseconds(100);
constexpr std::uint32_t kTrustAfter = 32;
}  // namespace

bool ParallelNode::trusted_short(std::size_t i) const {
  return short_runs_[i].load(std::memory_order_relaxed) >= kTrustAfter;
}

Status ParallelNode::run_timed(std::size_t i, State& state, const Scope& scope) const {
  const auto started = SteadyClock::now();
  Status st = branches_[i]->execute(state, scope);
  std::atomic<std::uint32_t>& runs = short_runs_[i];
  if (SteadyClock::now() - started > kShortRun) {
    runs.store(0, std::memory_order_relaxed);
  } else {
    // compare-and-swap: a concurrent run that found the branch slow must not be overwritten
    std::uint32_t n = runs.load(std::memory_order_relaxed);
    if (n < kTrustAfter) runs.compare_exchange_strong(n, n + 1, std::memory_order_relaxed);
  }
  return st;
}

Status ParallelNode::run(State& state, const Scope& scope) const {
  const std::size_t n = branches_.size();
  if (n == 0) return {};
  std::vector<Result<State>> outputs(n, state);
  auto run_branch = [&](std::size_t i) {
    Status st = branches_[i]->instant() ? branches_[i]->execute(*outputs[i], scope) : run_timed(i, *outputs[i], scope);
    if (!st) outputs[i] = std::unexpected(std::move(st.error()));
  };
  // Instant branches (Node::instant) run here first: nothing to share. The others fan out: this
  // thread and pool threads claim them in turn, so each may block without holding the rest up;
  // unless every one of them has kept ending fast (trusted_short), then they all run here too.
  std::vector<std::size_t> may_block;
  bool all_short = true;
  for (std::size_t i = 0; i < n; ++i) {
    if (branches_[i]->instant()) {
      run_branch(i);
    } else {
      may_block.push_back(i);
      all_short = all_short && trusted_short(i);
    }
  }
  if (all_short) {
    for (std::size_t i : may_block) run_branch(i);
    return combine(state, std::move(outputs));
  }
  fan_out(scope.run->tasks(), may_block.size(), may_block.size(), [&](std::size_t k) { run_branch(may_block[k]); });
  return combine(state, std::move(outputs));
}

Status ParallelNode::combine(State& state, std::vector<Result<State>> outputs) const {
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    // all-or-nothing: the first failure in declaration order is reported
    if (!outputs[i]) return fail(branch_failure(std::move(outputs[i].error()), i));
  }
  // Data merged by the strategy; versions summed, the latest update kept.
  std::vector<Json> datas;
  datas.reserve(outputs.size());
  std::int64_t version = state.meta.version;
  auto last = state.meta.last_updated;
  for (auto& out : outputs) {
    version += out->meta.version - state.meta.version;
    if (out->meta.last_updated > last) last = out->meta.last_updated;
    datas.push_back(std::move(out->data));
  }
  state.data = merge_branches(state.data, datas, merge_);
  state.meta.version = version;
  state.meta.last_updated = last;
  return {};
}

Error ParallelNode::branch_failure(Error e, std::size_t branch) const {
  if (!e.context.is_object()) e.context = Json{{"value", e.context}};
  if (!e.context.contains("parallel")) {
    e.context["parallel"] = label();
    e.context["branch"] = branch;
  }
  return e;
}

void ParallelNode::plan_start(State state, DistributedPlan& plan) const {
  std::vector<Branch> branches;
  branches.reserve(branches_.size());
  for (std::size_t i = 0; i < branches_.size(); ++i) branches.push_back(Branch{i, state, std::nullopt});
  plan.fan_out(state, std::move(branches));
}

void ParallelNode::plan_child_end(std::size_t /*position*/, Result<State> outcome, DistributedPlan& plan) const {
  plan.deliver(std::move(outcome));
}

Result<State> ParallelNode::settle_join(State base, JoinChildren& children, const std::string& where) const {
  std::vector<Result<State>> outputs(branches_.size());
  auto place = [&](std::size_t i, Result<State> r) { outputs[i] = std::move(r); };
  if (auto st = place_join_results(children, &JoinChild::child, branches_.size(), place, label(), where, base); !st)
    return fail(std::move(st.error()));
  if (auto st = combine(base, std::move(outputs)); !st) return fail(join_failure(std::move(st.error()), base));
  return base;
}

}  // namespace am2z
