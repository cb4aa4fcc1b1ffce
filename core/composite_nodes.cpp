#include <condition_variable>
#include <mutex>

#include "core/guarded.hpp"
#include "core/node.hpp"
#include "core/task_pool.hpp"

namespace am2z {

std::string_view to_string(NodeKind k) {
  switch (k) {
    case NodeKind::processor:
      return "processor";
    case NodeKind::chain:
      return "chain";
    case NodeKind::parallel:
      return "parallel";
    case NodeKind::route:
      return "route";
    case NodeKind::batch:
      return "batch";
  }
  return "processor";
}

Status Node::execute(State& state, const Scope& scope) const {
  if (!timeout) return run(state, scope);
  return run_guarded([this](State& s, const Scope& sc) { return run(s, sc); }, state, scope,
                     deadline_after(scope, *timeout), label(), *timeout);
}

namespace {
template <class Ptrs>
std::vector<const Node*> raw(const Ptrs& nodes) {
  std::vector<const Node*> out;
  out.reserve(nodes.size());
  for (const auto& n : nodes) out.push_back(n.get());
  return out;
}
}  // namespace

std::vector<const Node*> ChainNode::children() const { return raw(steps_); }
std::vector<const Node*> ParallelNode::children() const { return raw(branches_); }

std::vector<const Node*> RouteNode::children() const {
  std::vector<const Node*> out;
  for (const auto& [key, node] : cases_) out.push_back(node.get());
  if (fallback_) out.push_back(fallback_.get());
  return out;
}

void annotate_chain_failure(Error& e, const std::string& chain, std::size_t completed, std::size_t total) {
  Json& ctx = e.context;
  if (!ctx.is_object()) ctx = Json{{"value", ctx}};
  if (!ctx.contains("completedSteps")) {
    ctx["chain"] = chain;
    ctx["completedSteps"] = completed;
    ctx["totalSteps"] = total;
  }
}

Status ChainNode::run(State& state, const Scope& scope) const {
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (scope.token->cancelled()) [[unlikely]]
      return fail(errors::cancelled(scope.token->reason()));
    Status st = steps_[i]->execute(state, scope);
    if (!st) [[unlikely]] {
      // Steps leave the state untouched when they fail, so `state` is now the state before the
      // failing step; the innermost chain records how far it got.
      annotate_chain_failure(st.error(), label(), i, steps_.size());
      return st;
    }
  }
  return {};
}

Status ParallelNode::run(State& state, const Scope& scope) const {
  const std::size_t n = branches_.size();
  if (n == 0) return {};
  std::vector<State> outputs(n, state);
  std::vector<Status> results(n);
  std::mutex mutex;
  std::condition_variable all_done;
  std::size_t remaining = n - 1;

  for (std::size_t i = 1; i < n; ++i) {
    scope.run->tasks().submit([&, i] {
      Status st = branches_[i]->execute(outputs[i], scope);
      std::lock_guard lock(mutex);
      results[i] = std::move(st);
      if (--remaining == 0) all_done.notify_one();
    });
  }
  results[0] = branches_[0]->execute(outputs[0], scope);
  {
    std::unique_lock lock(mutex);
    all_done.wait(lock, [&] { return remaining == 0; });
  }

  for (std::size_t i = 0; i < n; ++i) {
    // all-or-nothing: the first failure in declaration order is reported
    if (!results[i]) return fail(branch_failure(std::move(results[i].error()), i));
  }
  merge_outputs(state, std::move(outputs));
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

void ParallelNode::merge_outputs(State& state, std::vector<State> outputs) const {
  const std::size_t n = outputs.size();
  std::vector<Json> datas;
  datas.reserve(n);
  std::int64_t version = state.meta.version;
  auto last = state.meta.last_updated;
  for (auto& out : outputs) {
    version += out.meta.version - state.meta.version;
    if (out.meta.last_updated > last) last = out.meta.last_updated;
    datas.push_back(std::move(out.data));
  }
  state.data = merge_branches(state.data, datas, merge_);
  state.meta.version = version;
  state.meta.last_updated = last;
}

std::string RouteNode::key_of(const Json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

Status RouteNode::run(State& state, const Scope& scope) const {
  auto target = select(state);
  if (!target) return fail(std::move(target.error()));
  return (*target)->execute(state, scope);
}

Result<const Node*> RouteNode::select(const State& state) const {
  const Json* value = selector_.find(state.data);
  const std::string key = value != nullptr ? key_of(*value) : std::string();
  if (value != nullptr) {
    for (const auto& [case_key, node] : cases_) {
      if (case_key == key) return node.get();
    }
  }
  if (fallback_) return fallback_.get();
  std::string cases;
  for (const auto& [case_key, node] : cases_) cases += (cases.empty() ? "" : ", ") + case_key;
  std::string why = value != nullptr ? "no route for value " + value->dump() + " at " + selector_.text()
                                     : "no route: " + selector_.text() + " is not in the state";
  Error e = errors::execution(label(), why + " and no default is set (cases: " + cases + ")");
  e.code = "ROUTE_NOT_FOUND";
  e.retryable = false;
  e.context["route"] = label();
  e.context["selector"] = selector_.text();
  e.context["value"] = value != nullptr ? *value : Json();
  return fail(std::move(e));
}

}  // namespace am2z
