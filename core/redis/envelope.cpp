#include "core/redis/envelope.hpp"

#include "core/policy.hpp"

namespace am2z::redis {


Json Envelope::to_json() const {
  Json j{{"run", run},      {"flow", flow},   {"fh", flow_hash}, {"node", node},
         {"sess", session}, {"reply", reply}, {"t0", started_ms}};
  if (!scope.empty()) j["scope"] = scope;
  if (reply_ttl_ms > 0) j["rttl"] = reply_ttl_ms;
  if (events) j["ev"] = 1;
  if (priority > 0) j["pri"] = priority;
  if (not_before_ms > 0) j["nb"] = not_before_ms;
  if (!resume_of.empty()) j["rs"] = resume_of;
  if (recorded) j["rec"] = 1;
  if (!deadlines.empty()) {
    Json list = Json::array();
    for (const auto& d : deadlines) list.push_back(Json{{"path", d.path}, {"node", d.label}, {"at", d.at_ms}, {"ms", d.timeout_ms}});
    j["dl"] = std::move(list);
  }
  if (join) j["join"] = Json{{"q", join->queue}, {"id", join->id}, {"node", join->node}, {"i", join->index}};
  return j;
}

namespace {

Error bad(const std::string& field, const std::string& why) {
  return errors::validation("opts.am2z." + field, nullptr, why);
}

Result<std::string> text(const Json& j, const char* key, bool required) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) return fail(bad(key, "is missing"));
    return std::string();
  }
  if (!it->is_string()) return fail(bad(key, std::string("must be a string, found ") + it->type_name()));
  return it->get<std::string>();
}

Result<long long> number(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0LL;
  if (!it->is_number_integer()) return fail(bad(key, std::string("must be an integer, found ") + it->type_name()));
  return it->get<long long>();
}

}  // namespace

Result<Envelope> Envelope::from_json(const Json& j, const KeySpace& keys) {
  if (!j.is_object()) return fail(bad("", std::string("must be an object, found ") + j.type_name()));
  Envelope e;
  struct Field {
    const char* key;
    std::string* out;
    bool required;
  };
  for (const Field& f : {Field{"run", &e.run, true}, Field{"flow", &e.flow, true}, Field{"fh", &e.flow_hash, true},
                         Field{"node", &e.node, true}, Field{"scope", &e.scope, false},
                         Field{"sess", &e.session, false}, Field{"reply", &e.reply, false},
                         Field{"rs", &e.resume_of, false}}) {
    auto v = text(j, f.key, f.required);
    if (!v) return fail(std::move(v.error()));
    *f.out = std::move(*v);
  }
  if (!is_run_id(e.run)) {
    return fail(bad("run", "must be a run id (at most 128 characters, no '.', ':', '~' or spaces)"));
  }
  if (!e.resume_of.empty() && !is_run_id(e.resume_of)) return fail(bad("rs", "must be a run id"));
  const std::string own_result = keys.run_result(e.run);
  if (e.reply.empty()) e.reply = own_result;
  // Under the run results only the run's own key: a job cannot hand another run a second outcome.
  if (e.reply.starts_with(keys.run_results()) && e.reply != own_result) {
    return fail(bad("reply", "must be this run's own result key '" + own_result + "', found '" +
                                 e.reply.substr(0, 80) + "'"));
  }
  if (!e.reply.starts_with(keys.own())) {
    return fail(bad("reply", "must be a key under '" + keys.own() + "', found '" + e.reply.substr(0, 80) + "'"));
  }
  auto ttl = number(j, "rttl");
  if (!ttl) return fail(std::move(ttl.error()));
  e.reply_ttl_ms = *ttl;
  auto t0 = number(j, "t0");
  if (!t0) return fail(std::move(t0.error()));
  e.started_ms = *t0;
  auto ev = number(j, "ev");
  if (!ev) return fail(std::move(ev.error()));
  e.events = *ev != 0;
  auto recorded = number(j, "rec");
  if (!recorded) return fail(std::move(recorded.error()));
  e.recorded = *recorded != 0;
  auto priority = number(j, "pri");
  if (!priority) return fail(std::move(priority.error()));
  if (*priority < 0 || *priority > kMaxPriority) {
    return fail(bad("pri", "must be a priority from 0 to " + std::to_string(kMaxPriority) + ", found " +
                               std::to_string(*priority)));
  }
  e.priority = *priority;
  auto not_before = number(j, "nb");
  if (!not_before) return fail(std::move(not_before.error()));
  e.not_before_ms = *not_before;
  if (auto it = j.find("dl"); it != j.end()) {
    if (!it->is_array()) return fail(bad("dl", std::string("must be an array, found ") + it->type_name()));
    for (const Json& d : *it) {
      if (!d.is_object()) return fail(bad("dl", "must hold objects"));
      auto at = number(d, "at");
      auto ms = number(d, "ms");
      auto path = text(d, "path", true);
      auto node = text(d, "node", true);
      if (!at || *at <= 0) return fail(bad("dl.at", "must be a time in ms"));
      if (!ms || *ms <= 0) return fail(bad("dl.ms", "must be a timeout in ms"));
      if (!path || !node) return fail(bad("dl.path", "and dl.node must be strings"));
      e.deadlines.push_back(NodeDeadline{std::move(*path), std::move(*node), *at, *ms});
    }
  }
  if (auto it = j.find("join"); it != j.end()) {
    if (!it->is_object()) return fail(bad("join", "must be an object"));
    JoinRef ref;
    for (auto [key, out] : {std::pair{"q", &ref.queue}, std::pair{"id", &ref.id}, std::pair{"node", &ref.node}}) {
      auto v = text(*it, key, true);
      if (!v) return fail(bad(std::string("join.") + key, v.error().context.value("reason", "is invalid")));
      *out = std::move(*v);
    }
    auto idx = number(*it, "i");
    if (!idx) return fail(bad("join.i", "must be an integer"));
    ref.index = *idx;
    e.join = std::move(ref);
  }
  return e;
}

namespace {
/// Whether node path `inner` is `outer` or under it ("n.1.0" is under "n.1", "n.10" is not).
bool within(const std::string& inner, const std::string& outer) {
  return inner == outer || (inner.starts_with(outer) && inner.size() > outer.size() && inner[outer.size()] == '.');
}
}  // namespace

void Envelope::keep_deadlines_over(const std::string& path) {
  std::erase_if(deadlines, [&](const NodeDeadline& d) { return !within(path, d.path); });
}

const NodeDeadline* Envelope::deadline() const {
  const NodeDeadline* first = nullptr;
  for (const auto& d : deadlines) {
    if (within(node, d.path) && (!first || d.at_ms < first->at_ms)) first = &d;
  }
  return first;
}

bool is_run_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && id.find_first_of(".:~ \r\n\t") == std::string_view::npos;
}

std::string job_id(const std::string& run, const std::string& path, const std::string& scope) {
  std::string id = "r" + run + "." + path;
  if (!scope.empty()) id += "~" + scope;
  return id;
}

}  // namespace am2z::redis
