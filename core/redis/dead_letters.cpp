#include "core/redis/dead_letters.hpp"

#include <algorithm>

#include "core/json_limits.hpp"
#include "core/redis/blobs.hpp"
#include "core/redis/envelope.hpp"
#include "core/redis/queue_stats.hpp"

namespace am2z::redis {

namespace {

/// Failed jobs read per round trip.
constexpr long long kPage = 500;

/// The job fields a dead step is read from, in this order.
const std::vector<std::string> kFields{"name", "opts",       "failedReason", "stacktrace",
                                       "atm",  "finishedOn", kRetriedByField};

/// am2z's error JSON: the first entry of the stacktrace the worker wrote; null when there is none.
Json error_of(const std::string& stacktrace) {
  auto trace = parse_outside_json(stacktrace);
  if (!trace || !trace->is_array() || trace->empty() || !(*trace)[0].is_string()) return nullptr;
  auto e = parse_outside_json((*trace)[0].get<std::string>());
  if (!e || !e->is_object()) return nullptr;
  return std::move(*e);
}

/// A dead step from its job's fields (kFields order); nullopt for a job that is not an am2z
/// step, or a step that was cancelled rather than failed.
std::optional<DeadStep> read_step(const KeySpace& keys, const std::string& queue, const std::string& id,
                                  const std::vector<Reply>& f) {
  if (f.size() != kFields.size() || f[1].is_nil()) return std::nullopt;  // the job is gone
  auto opts = parse_outside_json(f[1].str);
  if (!opts || !opts->is_object() || !opts->contains("am2z")) return std::nullopt;  // a BullMQ client's job
  auto env = Envelope::from_json((*opts)["am2z"], keys);
  if (!env) return std::nullopt;  // not one am2z could run: Bull Board shows it as it is
  DeadStep s;
  s.queue = queue;
  s.id = id;
  s.run = env->run;
  s.flow = env->flow;
  s.node = env->node;
  s.scope = env->scope;
  s.session = env->session;
  s.step = f[0].str;
  s.reason = f[2].str;
  s.error = error_of(f[3].str);
  if (s.error.is_object() && s.error.value("category", "") == "cancelled") return std::nullopt;
  s.attempts = to_integer(f[4].str);
  s.failed_at_ms = to_integer(f[5].str);
  s.retried_by = f[6].str;
  return s;
}

bool passes(const DeadStep& s, const DeadLetterFilter& filter) {
  if (!filter.session.empty() && s.session != filter.session) return false;
  if (!filter.run.empty() && s.run != filter.run) return false;
  if (!filter.flow.empty() && s.flow != filter.flow) return false;
  return filter.retried || s.retried_by.empty();
}

/// The dead steps of one queue, newest first, at most `limit` (0: all).
Status read_queue(Connection& c, const KeySpace& keys, const std::string& queue, const DeadLetterFilter& filter,
                  std::vector<DeadStep>& out) {
  const std::string q = keys.queue(queue);
  const std::string max = filter.failed_before_ms > 0 ? "(" + std::to_string(filter.failed_before_ms) : "+inf";
  std::size_t found = 0;
  for (long long offset = 0;; offset += kPage) {
    auto ids = c.command(
        {"ZREVRANGEBYSCORE", q + "failed", max, "-inf", "LIMIT", std::to_string(offset), std::to_string(kPage)});
    if (!ids) return fail(std::move(ids.error()));
    if (ids->is_error()) return fail(errors::network(q + "failed", 0, ids->str));
    if (ids->elements.empty()) return {};
    std::vector<std::vector<std::string>> reads;
    reads.reserve(ids->elements.size());
    for (const Reply& id : ids->elements) {
      std::vector<std::string> cmd{"HMGET", q + id.str};
      cmd.insert(cmd.end(), kFields.begin(), kFields.end());
      reads.push_back(std::move(cmd));
    }
    auto fields = c.pipeline(reads);
    if (!fields) return fail(std::move(fields.error()));
    for (std::size_t i = 0; i < ids->elements.size(); ++i) {
      auto s = read_step(keys, queue, ids->elements[i].str, (*fields)[i].elements);
      if (!s || !passes(*s, filter)) continue;
      out.push_back(std::move(*s));
      if (filter.limit > 0 && ++found == filter.limit) return {};
    }
    if (static_cast<long long>(ids->elements.size()) < kPage) return {};
  }
}

/// Queues that hold steps: every queue but the joins'.
Result<std::vector<std::string>> step_queues(Connection& c, const KeySpace& keys, const std::string& flow) {
  auto queues = discover_queues(c, keys);
  if (!queues) return fail(std::move(queues.error()));
  std::erase_if(*queues, [&](const std::string& q) {
    return q.ends_with("._join") || (!flow.empty() && !q.starts_with(flow + "."));
  });
  return queues;
}

}  // namespace

Json DeadStep::to_json() const {
  Json j{{"job", name()},    {"queue", queue}, {"id", id},           {"run", run},           {"flow", flow},
         {"node", node},     {"step", step},   {"session", session}, {"attempts", attempts}, {"failedAt", failed_at_ms},
         {"reason", reason}, {"error", error}};
  if (!scope.empty()) j["item"] = scope;
  j["retriedBy"] = retried_by.empty() ? Json() : Json(retried_by);
  return j;
}

Result<std::vector<DeadStep>> list_dead_steps(Connection& c, const KeySpace& keys, const DeadLetterFilter& filter) {
  auto queues = step_queues(c, keys, filter.flow);
  if (!queues) return fail(std::move(queues.error()));
  std::vector<DeadStep> out;
  for (const auto& q : *queues) {
    if (auto st = read_queue(c, keys, q, filter, out); !st) return fail(std::move(st.error()));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const DeadStep& a, const DeadStep& b) { return a.failed_at_ms > b.failed_at_ms; });
  if (filter.limit > 0 && out.size() > filter.limit) out.resize(filter.limit);
  return out;
}

namespace {
/// The most of a dead step's data that is read to be shown.
constexpr std::size_t kMaxShownDataBytes = std::size_t{64} << 20;
}  // namespace

Result<std::optional<DeadStep>> find_dead_step(Connection& c, const KeySpace& keys, const std::string& name,
                                               std::string* data) {
  std::vector<std::string> queues;
  std::string id = name;
  if (const auto colon = name.rfind(':'); colon != std::string::npos) {
    queues.push_back(name.substr(0, colon));
    id = name.substr(colon + 1);
  } else {
    auto all = step_queues(c, keys, "");
    if (!all) return fail(std::move(all.error()));
    queues = std::move(*all);
  }
  for (const auto& queue : queues) {
    const std::string q = keys.queue(queue);
    std::vector<std::string> read{"HMGET", q + id};
    read.insert(read.end(), kFields.begin(), kFields.end());
    read.push_back("data");
    auto r = c.pipeline({{"ZSCORE", q + "failed", id}, read});
    if (!r) return fail(std::move(r.error()));
    if ((*r)[0].is_nil() || (*r)[1].elements.size() != kFields.size() + 1) continue;
    std::vector<Reply>& f = (*r)[1].elements;
    if (data != nullptr) {
      // kept out of line (blobs.hpp): its value while it lives (as long as its run's outcome),
      // else the pointer, which says where it was
      auto value = resolve_value(c, f.back().str, run_key_of_job(keys.run_results(), id), kMaxShownDataBytes);
      *data = value ? std::move(*value) : f.back().str;
    }
    f.pop_back();
    if (auto s = read_step(keys, queue, id, f)) return std::optional<DeadStep>(std::move(*s));
  }
  return std::optional<DeadStep>();
}

Status mark_retried(Connection& c, const KeySpace& keys, const DeadStep& step, const std::string& by) {
  const std::string key = keys.queue(step.queue) + step.id;
  auto r = c.command({"HSET", key, kRetriedByField, by});
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::network(key, 0, r->str));
  return {};
}

Result<bool> purge_dead_step(Connection& c, const KeySpace& keys, const DeadStep& step) {
  // Only a job still in the failed set is deleted: one a BullMQ client retried meanwhile is
  // waiting again and must keep its hash.
  static const std::string kScript =
      "if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('DEL', KEYS[2], KEYS[3]) return 1 end return 0";
  const std::string q = keys.queue(step.queue);
  auto r = c.command({"EVAL", kScript, "3", q + "failed", q + step.id, q + step.id + ":logs", step.id});
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::network(q + step.id, 0, r->str));
  return r->integer == 1;
}

}  // namespace am2z::redis
