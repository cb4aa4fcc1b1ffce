#include "core/redis/planner.hpp"

#include <algorithm>

#include "core/json_limits.hpp"
#include "core/redis/op_chunks.hpp"
#include "core/redis/run_events.hpp"

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

std::string outcome_text(const std::string& run, const Result<State>& outcome, std::string_view state_text) {
  if (!outcome) return dump_text(outcome_payload(run, outcome));
  // keys as outcome_payload's sorted object writes them: ok, run, state
  std::string out = R"({"ok":true,"run":)" + dump_text(Json(run)) + R"(,"state":)";
  if (state_text.empty()) {
    out += outcome->to_text();
  } else {
    out += state_text;
  }
  out += '}';
  return out;
}

namespace {
/// A child's result as Redis holds it (anyone may have written it): parsed within the depth
/// limit, a discarded value when it is not usable JSON.
Json child_json(std::string_view text) {
  auto j = parse_outside_json(text);
  return j ? std::move(*j) : Json(Json::value_t::discarded);
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
  ops.add(flow_.keys().queue(queue), id, inst.name, state.to_text(), dump_text(opts), false, join_key,
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
  const std::string id = job_id(env.run, entry.path, env.scope);
  OpList::JobExtras extras;
  if (env.named_session()) extras.fair_session = env.session;
  if (!join) {
    const StepPolicy& policy = static_cast<const ProcessorNode*>(entry.node)->instance().policy;
    extras.priority = policy.priority > 0 ? policy.priority : env.priority;
    const long long now = std::chrono::duration_cast<Millis>(SystemClock::now().time_since_epoch()).count();
    const long long due = std::max(env.not_before_ms, policy.delay.count() > 0 ? now + policy.delay.count() : 0);
    if (due > now) {
      extras.due_ms = due;
      opts["delay"] = due - now;  // BullMQ's own option, for Bull Board
    }
    if (extras.priority > 0) opts["priority"] = extras.priority;
    if (!env.resume_of.empty()) {
      // the step's job in the resumed run, if it completed, gives this one its result
      extras.reuse_from = job_id(env.resume_of, entry.path, env.scope);
      extras.reuse_tally = flow_.keys().run_record(env.run) + "\nreused:" + entry.path;
    }
  }
  std::string parent_key, parent_json, parent_deps;
  if (env.join) {
    const std::string parent_queue = env.join->queue.substr(0, env.join->queue.size() - 1);  // no ':'
    parent_key = env.join->key();
    parent_json = Json{{"id", env.join->id}, {"queueKey", parent_queue}}.dump();
    parent_deps = env.join->dependencies_key();
    opts["parent"] = Json{{"id", env.join->id}, {"queue", parent_queue}};
  }
  ops.add(queue, id, name, state.to_text(), dump_text(opts), join, parent_key, parent_json, parent_deps, extras);
}

/// A join's branches, each started under it when asked: all at once for a small fan-out, a
/// chunk at a time for a big one whose every branch is one job (AddFeed).
class Planner::BranchFeed final : public AddFeed {
 public:
  BranchFeed(const Planner& planner, int e, const Envelope& env, std::vector<Branch> branches)
      : planner_(planner.flow_),
        flow_alive_(planner.flow_.weak_from_this().lock()),
        e_(e),
        env_(env),
        branches_(std::move(branches)) {
    const NodeEntry& join = planner_.flow_.entries()[static_cast<std::size_t>(e_)];
    join_id_ = job_id(env_.run, join.path, env_.scope);
  }

  std::size_t remaining() const override { return branches_.size() - next_; }

  /// Whether every branch starts as exactly one job (a processor of this deployment), so that
  /// planning one adds nothing but that job: no join of its own, no delivery, no outcome.
  bool all_jobs() const {
    const auto& entries = planner_.flow_.entries();
    const NodeEntry& join = entries[static_cast<std::size_t>(e_)];
    for (const Branch& b : branches_) {
      const Node* node = entries[static_cast<std::size_t>(join.children[b.child])].node;
      if (node->kind() != NodeKind::processor || is_remote(node)) return false;
    }
    return true;
  }

  void next(std::size_t max, OpList& ops) override {
    const PlannedFlow& flow = planner_.flow_;
    const NodeEntry& join = flow.entries()[static_cast<std::size_t>(e_)];
    for (const std::size_t end = std::min(branches_.size(), next_ + max); next_ < end; ++next_) {
      Branch& branch = branches_[next_];
      Envelope inner = env_;
      if (branch.item) {
        const std::string item = std::to_string(*branch.item);
        inner.scope = env_.scope.empty() ? item : env_.scope + "." + item;
      }
      inner.join = JoinRef{flow.join_keys(), join_id_, join.path, static_cast<long long>(next_)};
      const int child = join.children[branch.child];
      // A branch that ends at once delivers under the key its first job would have had on the
      // join queue: the branch index is read back from it like from any child's key.
      const std::string first_key =
          flow.join_keys() + job_id(env_.run, flow.entries()[static_cast<std::size_t>(child)].path, inner.scope);
      bool ignored = false;
      planner_.start(child, std::move(branch.state), std::move(inner), first_key, ops, ignored);
      branch.state = State();  // planned: its memory goes now, not with the whole feed
    }
  }

 private:
  const Planner planner_;                          // a view of its flow, which a reloading worker may drop meanwhile:
  std::shared_ptr<const PlannedFlow> flow_alive_;  // kept alive here (when shared)
  int e_;
  Envelope env_;
  std::string join_id_;
  std::vector<Branch> branches_;
  std::size_t next_ = 0;
};

/// One event of a run at node `e_`: what the node's kind chooses, turned into operations.
class Planner::Step final : public DistributedPlan {
 public:
  Step(const Planner& planner, int e, Envelope& env, const std::string& child_key, OpList& ops, bool& added)
      : planner_(planner), e_(e), env_(env), child_key_(child_key), ops_(ops), added_(added) {}

  void run_as_job(const State& state) override {
    if (is_remote(entry().node)) {
      planner_.add_remote(e_, state, env_, ops_);
    } else {
      planner_.add_job(e_, state, env_, false, ops_);
    }
    added_ = true;
  }

  void start_child(std::size_t child, State state) override {
    planner_.start(entry().children[child], std::move(state), std::move(env_), child_key_, ops_, added_);
  }

  void fan_out(const State& state, std::vector<Branch> branches) override {
    const NodeEntry& join = entry();
    if (branches.empty()) {
      NoJoinChildren none;
      Result<State> settled = join.node->settle_join(state, none, join.path);
      return finish(std::move(settled));
    }
    planner_.add_job(e_, state, env_, true, ops_);
    added_ = true;
    auto feed = std::make_shared<BranchFeed>(planner_, e_, env_, std::move(branches));
    if (feed->remaining() > kMaxAddsPerCall && feed->all_jobs()) {
      ops_.defer(std::move(feed));  // planned a chunk at a time, as the chunks are sent
    } else {
      feed->next(feed->remaining(), ops_);
    }
  }

  void finish(Result<State> outcome) override {
    planner_.done(e_, std::move(outcome), std::move(env_), child_key_, ops_, added_);
  }

  void deliver(Result<State> outcome) override {
    // Every branch of a join runs under it. Values as BullMQ keeps them for a parent: the
    // child's returnvalue, or its failedReason (with am2z's whole error beside it).
    const JoinRef& join = *env_.join;
    if (outcome) {
      ops_.deliver(join.queue, join.id, child_key_, outcome->to_text(), OpList::ChildEnd::completed);
    } else {
      Error err = outcome.error();
      err.partial_state.reset();  // the join reports its own input as the partial state
      ops_.deliver(join.queue, join.id, child_key_, err.message, OpList::ChildEnd::failed, dump_text(err.to_json()));
    }
  }

 private:
  const NodeEntry& entry() const { return planner_.flow_.entries()[static_cast<std::size_t>(e_)]; }

  const Planner& planner_;
  int e_;
  Envelope& env_;
  const std::string& child_key_;
  OpList& ops_;
  bool& added_;
};

void Planner::start_run(State input, Envelope run, OpList& ops, bool new_group) const {
  if (new_group) ops.begin_group();
  run.join.reset();
  run.scope.clear();
  if (run.events) add_run_event(ops, run, event::kFlowStarted, Json{{"flow", flow_.flow().name}});
  bool added = false;
  start(0, std::move(input), std::move(run), std::string(), ops, added);
}

void Planner::start(int e, State state, Envelope env, const std::string& child_key, OpList& ops, bool& added) const {
  const NodeEntry& entry = flow_.entries()[static_cast<std::size_t>(e)];
  env.node = entry.path;
  // The deadlines of the nodes it is inside travel with every job under them; leaving a node
  // leaves its deadline behind.
  env.keep_deadlines_over(entry.path);
  if (entry.node->timeout && entry.node->kind() != NodeKind::processor) {
    const long long now = std::chrono::duration_cast<Millis>(SystemClock::now().time_since_epoch()).count();
    env.deadlines.push_back(NodeDeadline{entry.path, entry.node->label(), now + entry.node->timeout->count(),
                                         entry.node->timeout->count()});
  }
  Step step(*this, e, env, child_key, ops, added);
  entry.node->plan_start(std::move(state), step);
}

void Planner::done(int e, Result<State> outcome, Envelope env, const std::string& child_key, OpList& ops, bool& added,
                   std::string_view state_text) const {
  const NodeEntry& entry = flow_.entries()[static_cast<std::size_t>(e)];
  if (entry.parent < 0) {
    const auto end = outcome ? OpList::RunEnd::completed : OpList::end_for(outcome.error().category);
    if (env.events) {
      // As a local run's: the last event of the run, its duration counted from the submission.
      const long long ms =
          env.started_ms > 0
              ? std::max(0LL, std::chrono::duration_cast<Millis>(SystemClock::now().time_since_epoch()).count() -
                                  env.started_ms)
              : 0;
      if (outcome) {
        add_run_event(ops, env, event::kFlowCompleted,
                      EventMembers()
                          .text("flow", flow_.flow().name)
                          .number("durationMs", ms)
                          .number("version", outcome->meta.version));
      } else {
        add_run_event(ops, env, event::kFlowFailed,
                      Json{{"flow", flow_.flow().name}, {"durationMs", ms}, {"error", outcome.error().to_json()}});
      }
    }
    // only a named session is indexed (a generated one has no keys to count the end in)
    ops.outcome(env.reply, outcome_text(env.run, outcome, state_text), env.reply_ttl_ms,
                flow_.keys().run_result(env.run), env.named_session() ? env.session : std::string(), end,
                env.recorded ? flow_.keys().run_record(env.run) : std::string());
    return;
  }
  const NodeEntry& parent = flow_.entries()[static_cast<std::size_t>(entry.parent)];
  Step step(*this, entry.parent, env, child_key, ops, added);
  parent.node->plan_child_end(entry.position, std::move(outcome), step);
}

void Planner::finished(const Envelope& self, const std::string& self_key, Result<State> outcome, OpList& ops,
                       std::string_view state_text) const {
  const int e = flow_.find(self.node);
  if (e < 0) return;  // checked by the worker before running the job
  bool added = false;
  done(e, std::move(outcome), self, self_key, ops, added, state_text);
  // The branch moved on to new jobs: they replaced this one among the join's dependencies.
  if (added && self.join) ops.drop_dependency(self.join->dependencies_key(), self_key);
}

namespace {
/// Where a child key stands under a join at `join_path` in `join_scope`: its position among the
/// join's children (read from the node path in its job id) and its batch item index (the first
/// scope part beyond the join's); -1 for what it does not have.
JoinChild child_at(std::string child_key, const std::string& join_path, const std::string& join_scope) {
  JoinChild c;
  c.key = std::move(child_key);
  const auto colon = c.key.rfind(':');
  const std::string id = colon == std::string::npos ? c.key : c.key.substr(colon + 1);
  const auto dot = id.find('.');
  if (id.empty() || id.front() != 'r' || dot == std::string::npos) return c;
  const std::string rest = id.substr(dot + 1);
  const auto tilde = rest.find('~');
  const std::string path = rest.substr(0, tilde);
  const std::string scope = tilde == std::string::npos ? std::string() : rest.substr(tilde + 1);
  const std::string prefix = join_path + ".";
  if (path.starts_with(prefix)) c.child = to_index(split(path.substr(prefix.size()), '.').front());
  const auto outer = join_scope.empty() ? std::size_t{0} : split(join_scope, '.').size();
  const auto parts = split(scope, '.');
  if (parts.size() > outer) c.item = to_index(parts[outer]);
  return c;
}
}  // namespace

namespace {
/// Succeeded children from a list, each moved out as it is taken.
class ListedSucceeded final : public Planner::SucceededChildren {
 public:
  explicit ListedSucceeded(Planner::ChildValues& list) : list_(list) {}
  std::optional<std::pair<std::string, std::string>> next() override {
    if (at_ == list_.size()) return std::nullopt;
    return std::move(list_[at_++]);
  }

 private:
  Planner::ChildValues& list_;
  std::size_t at_ = 0;
};

/// The children a join's release found, parsed one at a time as the node takes them: a child's
/// returnvalue text is gone once parsed, so a join never holds a batch's results twice.
class ParsedChildren final : public JoinChildren {
 public:
  ParsedChildren(Planner::SucceededChildren& succeeded, const Planner::ChildValues& failed,
                 const std::unordered_map<std::string, std::string>& errors, const NodeEntry& entry,
                 const Envelope& self, const std::string& session)
      : succeeded_(succeeded), failed_(failed), errors_(errors), entry_(entry), self_(self), session_(session) {}

  std::optional<JoinChild> next() override {
    if (!succeeded_done_) {
      if (auto kv = succeeded_.next()) return parse(std::move(kv->first), std::move(kv->second));
      succeeded_done_ = true;
    }
    if (f_ < failed_.size()) return failure(failed_[f_++]);
    return std::nullopt;
  }

 private:
  JoinChild parse(std::string key, std::string text) const {
    JoinChild c = child_at(std::move(key), entry_.path, self_.scope);
    auto parsed = parse_outside_json(text);
    std::string().swap(text);
    if (!parsed) {
      c.unreadable = errors::validation(c.key + " returnvalue", nullptr, "cannot be read: " + parsed.error().reason);
    } else if (auto s = State::from_json(std::move(*parsed), session_); !s) {
      c.unreadable = std::move(s.error());
    } else {
      c.result = std::move(*s);
    }
    return c;
  }

  JoinChild failure(const std::pair<std::string, std::string>& kv) const {
    const auto& [key, reason] = kv;
    JoinChild c = child_at(key, entry_.path, self_.scope);
    auto full = errors_.find(key);
    Json j = full == errors_.end() ? Json() : child_json(full->second);
    c.result = std::unexpected(j.is_object() ? Error::from_json(j) : errors::execution(entry_.node->label(), reason));
    return c;
  }

  Planner::SucceededChildren& succeeded_;
  const Planner::ChildValues& failed_;
  const std::unordered_map<std::string, std::string>& errors_;
  const NodeEntry& entry_;
  const Envelope& self_;
  const std::string& session_;
  bool succeeded_done_ = false;
  std::size_t f_ = 0;
};
}  // namespace

Result<State> Planner::settle_join(const Envelope& self, State base, SucceededChildren& succeeded,
                                   const ChildValues& failed,
                                   const std::unordered_map<std::string, std::string>& errors) const {
  const int e = flow_.find(self.node);
  if (e < 0) return fail(errors::validation("opts.am2z.node", self.node, "names no node of this flow"));
  const NodeEntry& entry = flow_.entries()[static_cast<std::size_t>(e)];
  const Node* node = entry.node;
  if (is_remote(node)) {
    ChildValues all;  // a sub-flow call's join has one child
    while (auto kv = succeeded.next()) all.push_back(std::move(*kv));
    return settle_remote(node, std::move(base), all, failed);
  }
  const std::string session = base.meta.session_id;
  ParsedChildren children(succeeded, failed, errors, entry, self, session);
  return node->settle_join(std::move(base), children, self.node);
}

Result<State> Planner::settle_join(const Envelope& self, State base, ChildValues succeeded, const ChildValues& failed,
                                   const std::unordered_map<std::string, std::string>& errors) const {
  ListedSucceeded listed(succeeded);
  return settle_join(self, std::move(base), listed, failed, errors);
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

std::vector<std::string> queues_of(const PlannedFlow& flow) {
  const KeySpace& keys = flow.keys();
  const std::string& name = flow.flow().name;
  std::vector<std::string> queues;
  bool joins = false;
  for (const auto& entry : flow.entries()) {
    joins = joins || entry.node->settles_in_join();
    if (entry.node->kind() != NodeKind::processor) continue;
    const auto& inst = static_cast<const ProcessorNode*>(entry.node)->instance();
    queues.push_back(inst.remote_queue().value_or(keys.processor_queue(name, inst.name)));
  }
  if (joins) queues.push_back(keys.join_queue(name));
  std::sort(queues.begin(), queues.end());
  queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
  return queues;
}

}  // namespace am2z::redis
