#include "core/kinds/batch.hpp"

#include <algorithm>
#include <atomic>

#include "core/fan_out.hpp"

namespace am2z {

namespace {

/// Everything the workers of one batch share.
struct BatchRun {
  const Json* items = nullptr;
  std::vector<State> states;
  std::vector<Status> results;
  std::vector<char> started;  // not vector<bool>: workers write neighbouring items concurrently
  std::atomic<bool> stopped{false};  ///< fail-fast tripped: start no more items
  std::size_t first_failure = 0;  ///< the item whose failure tripped fail-fast
};

}  // namespace

State BatchNode::item_state(const Json& item, const Metadata& parent) {
  State s;
  s.data = item.is_object() ? item : Json{{"item", item}};
  s.meta = parent;
  return s;
}

Result<const Json*> BatchNode::items_of(const State& state) const {
  const Json* items = spec_.items ? &*spec_.items : spec_.items_path->find(state.data);
  if (items == nullptr || !items->is_array()) {
    const std::string where = spec_.items_path ? spec_.items_path->text() : std::string("items");
    return fail(errors::validation(
        label() + ".items", items != nullptr ? Json(items->type_name()) : Json(),
        items == nullptr ? where + " is not in the state" : where + " must be an array, found " + items->type_name()));
  }
  return items;
}

Error BatchNode::item_failure(Error e, std::size_t index) const {
  if (!e.context.is_object()) e.context = Json{{"value", e.context}};
  e.context["batch"] = label();
  e.context["index"] = index;
  return e;
}

Status BatchNode::store_output(State& state, BatchSettled items) const {
  const std::size_t n = items.data.size();
  Json results = Json::array();
  results.get_ref<Json::array_t&>().reserve(n);
  for (Json& d : items.data) results.push_back(std::move(d));
  std::vector<Json>().swap(items.data);
  Json errs = Json::array();
  for (const auto& [i, e] : items.failures) {  // their data is null
    errs.push_back(Json{{"index", i}, {"error", e.to_json()}});
  }
  const std::size_t failed = items.failures.size();
  Json output{{"results", std::move(results)},
              {"errors", std::move(errs)},
              {"counts", {{"total", n}, {"succeeded", n - failed}, {"failed", failed}}}};
  if (auto st = spec_.output.assign(state.data, std::move(output)); !st) return st;
  state.meta.bump();
  return {};
}

Status BatchNode::run(State& state, const Scope& scope) const {
  auto found = items_of(state);
  if (!found) return fail(std::move(found.error()));
  const Json* items = *found;
  const std::size_t n = items->size();
  BatchRun b;
  b.items = items;
  b.states.resize(n);
  b.results.resize(n);
  b.started.assign(n, 0);
  RunProgress* progress = scope.run->progress.get();
  if (progress) progress->items_total.fetch_add(static_cast<long long>(n), std::memory_order_relaxed);

  CancelSource stop_source(*scope.token);  // fail-fast cancels the items still running
  const CancelToken stop_token = stop_source.token();
  Scope inner = scope;
  inner.token = &stop_token;
  const bool fail_fast = spec_.mode == BatchMode::fail_fast;

  auto work = [&](std::size_t i) {
    if (b.stopped.load()) return;
    b.started[i] = 1;
    b.states[i] = item_state((*items)[i], state.meta);
    if (scope.run->journal == nullptr) {
      b.results[i] = target_->execute(b.states[i], inner);
    } else {
      // a journal knows the item's steps by its index, under those of the batches around it
      const std::string item = scope.item ? *scope.item + "." + std::to_string(i) : std::to_string(i);
      Scope item_scope = inner;
      item_scope.item = &item;
      b.results[i] = target_->execute(b.states[i], item_scope);
    }
    if (progress) progress->items_done.fetch_add(1, std::memory_order_relaxed);
    if (!b.results[i] && fail_fast && !b.stopped.exchange(true)) {
      b.first_failure = i;
      stop_source.cancel("batch '" + label() + "' stopped after item " + std::to_string(i) + " failed");
    }
  };
  fan_out(scope.run->tasks(), n, static_cast<std::size_t>(std::max(1, spec_.concurrency)), work);

  if (scope.token->cancelled()) return fail(errors::cancelled(scope.token->reason()));
  if (fail_fast && b.stopped.load()) {
    // Report the lowest-index genuine failure, not an item we cancelled ourselves; when every
    // failure is a cancellation, the one that stopped the batch.
    std::size_t report = b.first_failure;
    for (std::size_t i = 0; i < n; ++i) {
      if (b.started[i] != 0 && !b.results[i] && b.results[i].error().category != ErrorCategory::cancelled) {
        report = i;
        break;
      }
    }
    return fail(item_failure(std::move(b.results[report].error()), report));
  }

  BatchSettled settled;
  settled.data.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (b.results[i]) {
      settled.data[i] = std::move(b.states[i].data);
    } else {
      settled.failures.emplace(i, std::move(b.results[i].error()));
    }
  }
  return collect(state, std::move(settled));
}

Status BatchNode::collect(State& state, BatchSettled items) const {
  if (spec_.mode == BatchMode::fail_fast && !items.failures.empty()) {
    auto first = items.failures.begin();  // the lowest item index
    return fail(item_failure(std::move(first->second), first->first));
  }
  return store_output(state, std::move(items));
}

void BatchNode::plan_start(State state, DistributedPlan& plan) const {
  auto items = items_of(state);
  if (!items) return plan.finish(fail(with_partial(std::move(items.error()), state)));
  std::vector<Branch> branches;
  branches.reserve((*items)->size());
  for (std::size_t i = 0; i < (*items)->size(); ++i) {
    branches.push_back(Branch{0, item_state((**items)[i], state.meta), i});
  }
  plan.fan_out(state, std::move(branches));
}

void BatchNode::plan_child_end(std::size_t /*position*/, Result<State> outcome, DistributedPlan& plan) const {
  plan.deliver(std::move(outcome));
}

Result<State> BatchNode::settle_join(State base, JoinChildren& children, const std::string& where) const {
  auto items = items_of(base);
  if (!items) return fail(std::move(items.error()));
  BatchSettled settled;
  settled.data.resize((*items)->size());
  auto place = [&](std::size_t i, Result<State> r) {
    if (r) {
      settled.data[i] = std::move(r->data);  // the item's metadata is not part of the output
      settled.failures.erase(i);
    } else {
      settled.data[i] = nullptr;
      settled.failures.insert_or_assign(i, std::move(r.error()));
    }
  };
  if (auto st = place_join_results(children, &JoinChild::item, settled.data.size(), place, label(), where, base); !st)
    return fail(std::move(st.error()));
  if (auto st = collect(base, std::move(settled)); !st) return fail(join_failure(std::move(st.error()), base));
  return base;
}

}  // namespace am2z
