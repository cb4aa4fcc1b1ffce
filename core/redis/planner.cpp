#include "core/redis/planner.hpp"

#include <algorithm>

#include "core/json_limits.hpp"

namespace am2z::redis {

PlannedFlow::PlannedFlow(std::shared_ptr<const Flow> flow, std::string content_hash, KeySpace keys)
    : flow_(std::move(flow)), hash_(std::move(content_hash)), keys_(std::move(keys)) {
  add(flow_->root.get(), "n", -1, 0);
}

int PlannedFlow::add(const Node* node, std::string path, int parent, std::size_t position) {
  const int index = static_cast<int>(entries_.size());
  entries_.push_back(NodeEntry{node, path, parent, position, {}});
  by_path_.emplace(path, index);
  const auto kids = node->children();
  for (std::size_t i = 0; i < kids.size(); ++i) {
    const int child = add(kids[i], path + "." + std::to_string(i), index, i);
    entries_[static_cast<std::size_t>(index)].children.push_back(child);
  }
  return index;
}

int PlannedFlow::find(const std::string& path) const {
  auto it = by_path_.find(path);
  return it == by_path_.end() ? -1 : it->second;
}

Json outcome_payload(const std::string& run, const Result<State>& outcome) {
  if (outcome) return Json{{"run", run}, {"ok", true}, {"state", outcome->to_json()}};
  return Json{{"run", run}, {"ok", false}, {"error", outcome.error().to_json()}};
}

namespace {
/// A child's result as Redis holds it (anyone may have written it): parsed within the depth
/// limit, a discarded value when it is not usable JSON.
Json child_json(std::string_view text) {
  auto j = parse_outside_json(text);
  return j ? std::move(*j) : Json(Json::value_t::discarded);
}


void set_partial(Error& e, const State& input) {
  if (!e.partial_state) e.partial_state = std::make_shared<const Json>(input.to_json());
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

long long to_index(const std::string& s) {
  if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(s);
}

}  // namespace

bool is_remote(const Node* node) {
  return node->kind() == NodeKind::processor && static_cast<const ProcessorNode*>(node)->instance().remote_queue();
}

void Planner::add_remote(int e, const State& state, const Envelope& env, OpList& ops) const {
  // The step's continuation waits in waiting-children on the join queue; its one child is a
  // plain job on the remote queue whose completion (by any BullMQ worker) releases it. idof: a
  // failed child releases it too, with the reason in its :failed hash.
  add_job(e, state, env, true, ops);
  const NodeEntry& entry = flow_.entries()[static_cast<std::size_t>(e)];
  const auto& inst = static_cast<const ProcessorNode*>(entry.node)->instance();
  const std::string id = job_id(env.run, entry.path, env.scope);
  const std::string join_queue = flow_.join_keys().substr(0, flow_.join_keys().size() - 1);
  const std::string join_key = flow_.join_keys() + id;
  Json opts{{"attempts", std::max(1, inst.policy.retry.attempts)}, {"parent", {{"id", id}, {"queue", join_queue}}}};
  if (inst.policy.retry.attempts > 1) {
    opts["backoff"] = Json{{"type", "exponential"}, {"delay", inst.policy.retry.initial_backoff.count()}};
  }
  const std::string queue = inst.remote_queue().value_or(inst.name);
  ops.add(flow_.keys().queue(queue), id, inst.name, dump_text(state.to_json()), dump_text(opts), false, join_key,
          Json{{"id", id}, {"queueKey", join_queue}, {"idof", true}}.dump(), join_key + ":dependencies");
}

void Planner::add_job(int e, const State& state, const Envelope& env, bool join, OpList& ops) const {
  const NodeEntry& entry = flow_.entries()[static_cast<std::size_t>(e)];
  std::string queue;
  std::string name;
  Json opts = Json::object();
  if (join) {
    queue = flow_.join_keys();
    name = entry.node->label();
  } else {
    const auto& inst = static_cast<const ProcessorNode*>(entry.node)->instance();
    queue = flow_.processor_keys(inst.name);
    name = inst.name;
    opts["attempts"] = std::max(1, inst.policy.retry.attempts);
    if (inst.policy.retry.attempts > 1) {
      opts["backoff"] = Json{{"type", "exponential"}, {"delay", inst.policy.retry.initial_backoff.count()}};
    }
  }
  opts["am2z"] = env.to_json();
  std::string parent_key, parent_json, parent_deps;
  if (env.join) {
    const std::string parent_queue = env.join->queue.substr(0, env.join->queue.size() - 1);  // no ':'
    parent_key = env.join->key();
    parent_json = Json{{"id", env.join->id}, {"queueKey", parent_queue}}.dump();
    parent_deps = env.join->dependencies_key();
    opts["parent"] = Json{{"id", env.join->id}, {"queue", parent_queue}};
  }
  ops.add(queue, job_id(env.run, entry.path, env.scope), name, dump_text(state.to_json()), dump_text(opts), join, parent_key,
          parent_json, parent_deps);
}

void Planner::start_run(State input, Envelope run, OpList& ops) const {
  ops.begin_group();
  run.join.reset();
  run.scope.clear();
  start(0, std::move(input), std::move(run), std::string(), ops);
}

bool Planner::start(int e, State state, Envelope env, const std::string& child_key, OpList& ops) const {
  const NodeEntry& entry = flow_.entries()[static_cast<std::size_t>(e)];
  env.node = entry.path;
  switch (entry.node->kind()) {
    case NodeKind::processor:
      if (is_remote(entry.node)) {
        add_remote(e, state, env, ops);
      } else {
        add_job(e, state, env, false, ops);
      }
      return true;
    case NodeKind::chain:
      if (entry.children.empty()) return done(e, std::move(state), std::move(env), child_key, ops);
      return start(entry.children.front(), std::move(state), std::move(env), child_key, ops);
    case NodeKind::route: {
      auto target = static_cast<const RouteNode*>(entry.node)->select(state);
      if (!target) {
        Error err = std::move(target.error());
        set_partial(err, state);
        return done(e, fail(std::move(err)), std::move(env), child_key, ops);
      }
      for (int child : entry.children) {
        if (flow_.entries()[static_cast<std::size_t>(child)].node == *target) {
          return start(child, std::move(state), std::move(env), child_key, ops);
        }
      }
      return done(e, fail(errors::execution(entry.node->label(), "route target not found")), std::move(env), child_key,
                  ops);
    }
    case NodeKind::parallel:
    case NodeKind::batch: {
      std::vector<std::pair<int, State>> branches;
      std::vector<std::string> scopes;
      if (entry.node->kind() == NodeKind::parallel) {
        for (int child : entry.children) {
          branches.emplace_back(child, state);
          scopes.push_back(env.scope);
        }
      } else {
        const auto* batch = static_cast<const BatchNode*>(entry.node);
        auto items = batch->items_of(state);
        if (!items) {
          Error err = std::move(items.error());
          set_partial(err, state);
          return done(e, fail(std::move(err)), std::move(env), child_key, ops);
        }
        for (std::size_t i = 0; i < (*items)->size(); ++i) {
          branches.emplace_back(entry.children.front(), BatchNode::item_state((**items)[i], state.meta));
          scopes.push_back(env.scope.empty() ? std::to_string(i) : env.scope + "." + std::to_string(i));
        }
      }
      if (branches.empty()) {
        Result<State> settled = settle_join(env, std::move(state), {}, {}, {});
        return done(e, std::move(settled), std::move(env), child_key, ops);
      }
      add_job(e, state, env, true, ops);
      const std::string join_id = job_id(env.run, entry.path, env.scope);
      for (std::size_t i = 0; i < branches.size(); ++i) {
        Envelope inner = env;
        inner.scope = scopes[i];
        inner.join = JoinRef{flow_.join_keys(), join_id, entry.path, static_cast<long long>(i)};
        // A branch that ends at once delivers under the key its first job would have had on the
        // join queue: the branch index is read back from it like from any child's key.
        const std::string first_key =
            flow_.join_keys() +
            job_id(env.run, flow_.entries()[static_cast<std::size_t>(branches[i].first)].path, scopes[i]);
        start(branches[i].first, std::move(branches[i].second), std::move(inner), first_key, ops);
      }
      return true;
    }
  }
  return false;
}

bool Planner::done(int e, Result<State> outcome, Envelope env, const std::string& child_key, OpList& ops) const {
  for (;;) {
    const NodeEntry& entry = flow_.entries()[static_cast<std::size_t>(e)];
    if (entry.parent < 0) {
      ops.outcome(env.reply, dump_text(outcome_payload(env.run, outcome)), env.reply_ttl_ms, flow_.keys().run_result(env.run));
      return false;
    }
    const NodeEntry& parent = flow_.entries()[static_cast<std::size_t>(entry.parent)];
    switch (parent.node->kind()) {
      case NodeKind::chain:
        if (outcome && entry.position + 1 < parent.children.size()) {
          return start(parent.children[entry.position + 1], std::move(*outcome), std::move(env), child_key, ops);
        }
        if (!outcome) {
          annotate_chain_failure(outcome.error(), parent.node->label(), entry.position, parent.children.size());
        }
        break;
      case NodeKind::route:
      case NodeKind::processor:
        break;
      case NodeKind::parallel:
      case NodeKind::batch: {
        // Every branch of a join runs under it. Values as BullMQ keeps them for a parent: the
        // child's returnvalue, or its failedReason (with am2z's whole error beside it).
        const JoinRef& join = *env.join;
        if (outcome) {
          ops.deliver(join.queue, join.id, child_key, dump_text(outcome->to_json()), OpList::ChildEnd::completed);
        } else {
          Error err = outcome.error();
          err.partial_state.reset();  // the join reports its own input as the partial state
          ops.deliver(join.queue, join.id, child_key, err.message, OpList::ChildEnd::failed, dump_text(err.to_json()));
        }
        return false;
      }
    }
    e = entry.parent;
  }
}

void Planner::finished(const Envelope& self, const std::string& self_key, Result<State> outcome, OpList& ops) const {
  const int e = flow_.find(self.node);
  if (e < 0) return;  // checked by the worker before running the job
  const bool added = done(e, std::move(outcome), self, self_key, ops);
  // The branch moved on to new jobs: they replaced this one among the join's dependencies.
  if (added && self.join) ops.drop_dependency(self.join->dependencies_key(), self_key);
}

long long Planner::child_index(const std::string& child_key, const NodeEntry& join,
                               const std::string& join_scope) const {
  const auto colon = child_key.rfind(':');
  const std::string id = colon == std::string::npos ? child_key : child_key.substr(colon + 1);
  const auto dot = id.find('.');
  if (id.empty() || id.front() != 'r' || dot == std::string::npos) return -1;
  const std::string rest = id.substr(dot + 1);
  const auto tilde = rest.find('~');
  const std::string path = rest.substr(0, tilde);
  const std::string scope = tilde == std::string::npos ? std::string() : rest.substr(tilde + 1);
  if (join.node->kind() == NodeKind::parallel) {
    const std::string prefix = join.path + ".";
    if (!path.starts_with(prefix)) return -1;
    return to_index(split(path.substr(prefix.size()), '.').front());
  }
  const auto outer = join_scope.empty() ? std::size_t{0} : split(join_scope, '.').size();
  const auto parts = split(scope, '.');
  return parts.size() > outer ? to_index(parts[outer]) : -1;
}

Result<State> Planner::settle_join(const Envelope& self, State base, const ChildValues& succeeded,
                                   const ChildValues& failed,
                                   const std::unordered_map<std::string, std::string>& errors) const {
  const int e = flow_.find(self.node);
  if (e < 0) return fail(errors::validation("opts.am2z.node", self.node, "names no node of this flow"));
  const NodeEntry& entry = flow_.entries()[static_cast<std::size_t>(e)];
  const Node* node = entry.node;
  if (node->kind() == NodeKind::processor) return settle_remote(node, std::move(base), succeeded, failed);
  std::map<long long, Result<State>> by_index;
  for (const auto& [key, text] : succeeded) {
    const long long i = child_index(key, entry, self.scope);
    if (i < 0) return fail(errors::validation(self.node, key, "job " + key + " is not a branch of this join"));
    auto parsed = parse_outside_json(text);
    if (!parsed) return fail(errors::validation(key + " returnvalue", nullptr, "cannot be read: " + parsed.error().reason));
    Json v = std::move(*parsed);
    auto s = State::from_json(std::move(v), base.meta.session_id);
    if (!s) return fail(std::move(s.error()));
    by_index.insert_or_assign(i, std::move(*s));
  }
  for (const auto& [key, reason] : failed) {
    const long long i = child_index(key, entry, self.scope);
    if (i < 0) return fail(errors::validation(self.node, key, "job " + key + " is not a branch of this join"));
    auto full = errors.find(key);
    Json j = full == errors.end() ? Json() : child_json(full->second);
    by_index.insert_or_assign(
        i, std::unexpected(j.is_object() ? Error::from_json(j) : errors::execution(node->label(), reason)));
  }
  std::size_t expected = 0;
  if (node->kind() == NodeKind::parallel) {
    expected = node->children().size();
  } else {
    auto items = static_cast<const BatchNode*>(node)->items_of(base);
    if (!items) return fail(std::move(items.error()));
    expected = (*items)->size();
  }
  std::vector<Result<State>> results;
  results.reserve(expected);
  for (std::size_t i = 0; i < expected; ++i) {
    auto it = by_index.find(static_cast<long long>(i));
    if (it == by_index.end()) {
      Error err = errors::execution(node->label(), "branch " + std::to_string(i) + " never reported a result");
      err.partial_state = std::make_shared<const Json>(base.to_json());
      return fail(std::move(err));
    }
    results.push_back(std::move(it->second));
  }
  auto failure = [&](Error err) {
    err.partial_state = std::make_shared<const Json>(base.to_json());
    return fail(std::move(err));
  };
  if (node->kind() == NodeKind::parallel) {
    const auto* par = static_cast<const ParallelNode*>(node);
    std::vector<State> outputs;
    outputs.reserve(expected);
    for (std::size_t i = 0; i < expected; ++i) {
      if (!results[i]) return failure(par->branch_failure(std::move(results[i].error()), i));
      outputs.push_back(std::move(*results[i]));
    }
    par->merge_outputs(base, std::move(outputs));
    return base;
  }
  const auto* batch = static_cast<const BatchNode*>(node);
  if (batch->spec().mode == BatchMode::fail_fast) {
    for (std::size_t i = 0; i < expected; ++i) {
      if (!results[i]) return failure(batch->item_failure(std::move(results[i].error()), i));
    }
  }
  if (auto st = batch->store_output(base, std::move(results)); !st) return failure(std::move(st.error()));
  return base;
}

Result<State> Planner::settle_remote(const Node* node, State base, const ChildValues& succeeded,
                                     const ChildValues& failed) const {
  const auto& inst = static_cast<const ProcessorNode*>(node)->instance();
  auto failure = [&](Error err) {
    annotate_failure(err, inst);
    err.partial_state = std::make_shared<const Json>(base.to_json());
    return fail(std::move(err));
  };
  if (!failed.empty())
    return failure(errors::execution(inst.name, "the remote worker failed: " + failed.front().second));
  if (succeeded.empty()) return failure(errors::execution(inst.name, "the remote job ended without a result"));
  Json value = child_json(succeeded.front().second);
  if (value.is_discarded() || !value.is_object()) {
    return failure(errors::validation(inst.name + ".returnvalue", succeeded.front().second.substr(0, 200),
                                      "a remote worker must return the new state, a JSON object"));
  }
  value.erase("metadata");  // the state's metadata stays ours; the worker returns its data
  base.data = std::move(value);
  base.meta.bump();
  return base;
}

}  // namespace am2z::redis
