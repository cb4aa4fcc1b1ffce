#include "core/kinds/parallel.hpp"

#include <condition_variable>
#include <mutex>

#include "core/task_pool.hpp"

namespace am2z {

Status ParallelNode::run(State& state, const Scope& scope) const {
  const std::size_t n = branches_.size();
  if (n == 0) return {};
  std::vector<Result<State>> outputs(n, state);
  auto run_branch = [&](std::size_t i) {
    Status st = branches_[i]->execute(*outputs[i], scope);
    if (!st) outputs[i] = std::unexpected(std::move(st.error()));
  };
  // Branches that may block go to the pool, but one of them, which runs here; instant branches
  // (Node::instant) run here too: a thread hand-off costs microseconds, more than they do.
  std::vector<std::size_t> handed_off;
  std::vector<std::size_t> here;
  for (std::size_t i = 0; i < n; ++i) (branches_[i]->instant() ? here : handed_off).push_back(i);
  if (!handed_off.empty()) {
    here.push_back(handed_off.back());
    handed_off.pop_back();
  }
  std::mutex mutex;
  std::condition_variable all_done;
  std::size_t remaining = handed_off.size();
  for (std::size_t i : handed_off) {
    scope.run->tasks().submit([&, i] {
      run_branch(i);
      std::lock_guard lock(mutex);
      if (--remaining == 0) all_done.notify_one();
    });
  }
  for (std::size_t i : here) run_branch(i);
  {
    std::unique_lock lock(mutex);
    all_done.wait(lock, [&] { return remaining == 0; });
  }
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

Result<State> ParallelNode::settle_join(State base, std::vector<JoinChild> children, const std::string& where) const {
  auto outputs = join_results(
      std::move(children), &JoinChild::child, [&]() -> Result<std::size_t> { return branches_.size(); }, label(),
      where, base);
  if (!outputs) return fail(std::move(outputs.error()));
  if (auto st = combine(base, std::move(*outputs)); !st) return fail(join_failure(std::move(st.error()), base));
  return base;
}

}  // namespace am2z
