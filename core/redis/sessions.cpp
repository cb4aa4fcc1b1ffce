#include "core/redis/sessions.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "core/redis/envelope.hpp"
#include "core/redis/scripts.hpp"
#include "core/redis/submitter.hpp"

namespace am2z::redis {

namespace {

constexpr long long kWindowMs = 60'000;     // "the last minute" of session stats
constexpr long long kEventsMaxLen = 10'000;  // the removed events' stream cap, as the workers'
constexpr auto kGracePoll = std::chrono::milliseconds(100);

Error bad_reply(const std::string& what, const Reply& r) {
  return errors::network(what, 0, r.is_error() ? r.str : "unexpected reply");
}

SessionSummary summary_of(const std::string& id, const Reply& hash, long long running) {
  SessionSummary s;
  s.id = id;
  s.running = running;
  for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
    const std::string& field = hash.elements[i].str;
    const long long v = to_integer(hash.elements[i + 1].str);
    if (field == "first") s.first_ms = v;
    else if (field == "last") s.last_ms = v;
    else if (field == "runs") s.runs = v;
    else if (field == "completed") s.completed = v;
    else if (field == "failed") s.failed = v;
    else if (field == "cancelled") s.cancelled = v;
    else if (field == "stopped") s.stopped_ms = v;
    else if (field == "ttl") s.ttl_ms = v;
  }
  return s;
}

/// The queue name of a key prefix "<prefix>:<name>:".
std::string queue_name(const KeySpace& keys, const std::string& queue_keys) {
  const std::size_t skip = keys.prefix().size() + 1;
  if (queue_keys.size() <= skip) return queue_keys;
  return queue_keys.substr(skip, queue_keys.size() - skip - 1);
}

Result<std::vector<SessionQueue>> scan(Connection& c, const KeySpace& keys, const std::string& id, const char* mode,
                                       std::size_t max_samples) {
  auto members = c.command({"SMEMBERS", keys.session_queues(id)});
  if (!members) return fail(std::move(members.error()));
  if (!members->is_array()) return fail(bad_reply(keys.session_queues(id), *members));
  std::vector<std::string> argv{mode,
                                keys.session_runs(id),
                                std::to_string(unix_ms()),
                                std::to_string(kWindowMs),
                                std::to_string(max_samples),
                                std::to_string(kEventsMaxLen)};
  std::vector<std::string> queues;
  for (const auto& m : members->elements) queues.push_back(m.str);
  std::sort(queues.begin(), queues.end());
  argv.insert(argv.end(), queues.begin(), queues.end());
  std::vector<SessionQueue> out;
  if (queues.empty()) return out;
  auto r = run_script(c, ScriptId::session_jobs, argv);
  if (!r) return fail(std::move(r.error()));
  for (const auto& row : r->elements) {
    if (row.elements.size() != 11) return fail(bad_reply("session_jobs", row));
    SessionQueue q;
    q.queue = queue_name(keys, row.elements[0].str);
    long long* fields[] = {&q.waiting, &q.active,  &q.delayed, &q.prioritized, &q.waiting_children,
                           &q.completed, &q.failed, &q.removed, &q.completed_last_minute};
    for (std::size_t i = 0; i < 9; ++i) *fields[i] = row.elements[i + 1].integer;
    for (const auto& d : row.elements[10].elements) q.durations_ms.push_back(d.integer);
    std::sort(q.durations_ms.begin(), q.durations_ms.end());
    out.push_back(std::move(q));
  }
  return out;
}

/// Whether run `run` has a job under the deployment's prefix (a SCAN: only `session stop` asks).
Result<bool> run_has_jobs(Connection& c, const KeySpace& keys, const std::string& run) {
  bool found = false;
  if (auto st = scan(c, keys.prefix() + ":*:r" + run + ".*", [&](std::string&&) { found = true; }); !st) {
    return fail(std::move(st.error()));
  }
  return found;
}

/// A session the index does not hold may be a run's own ("session-<run>", never indexed): that
/// run is cancelled if it still goes; its queued jobs then fail unrun when a worker takes them.
Result<StopReport> stop_unnamed(Connection& c, const KeySpace& keys, const std::string& id, StopReport report) {
  const std::string prefix = generated_session("");
  if (!id.starts_with(prefix) || !is_run_id(id.substr(prefix.size()))) return report;
  const std::string run = id.substr(prefix.size());
  auto ended = c.command({"EXISTS", keys.run_result(run)});
  if (!ended) return fail(std::move(ended.error()));
  auto has_jobs = run_has_jobs(c, keys, run);
  if (!has_jobs) return fail(std::move(has_jobs.error()));
  if (!*has_jobs && ended->integer == 0) return report;  // no such run
  report.found = true;
  if (ended->integer == 1) return report;  // it ended already
  if (auto st = cancel_run(c, keys, run, id, errors::cancelled("session " + id + " stopped")); !st) {
    return fail(std::move(st.error()));
  }
  report.cancelled_runs.push_back(run);
  return report;
}

}  // namespace

Json SessionSummary::to_json() const {
  return Json{{"session", id},          {"runs", runs},           {"running", running},   {"completed", completed},
              {"failed", failed},       {"cancelled", cancelled}, {"firstActivity", first_ms},
              {"lastActivity", last_ms}, {"stopped", stopped_ms > 0 ? Json(stopped_ms) : Json(nullptr)},
              {"ttlMs", ttl_ms}};
}

long long SessionQueue::percentile(double p) const {
  if (durations_ms.empty()) return -1;
  // nearest rank: the smallest value with at least p% of the sample at or below it
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(durations_ms.size())));
  return durations_ms[std::clamp<std::size_t>(rank, 1, durations_ms.size()) - 1];
}

Json SessionQueue::to_json() const {
  auto ms = [](long long v) { return v < 0 ? Json(nullptr) : Json(v); };
  return Json{{"queue", queue},
              {"waiting", waiting},
              {"active", active},
              {"delayed", delayed},
              {"prioritized", prioritized},
              {"waitingChildren", waiting_children},
              {"completed", completed},
              {"failed", failed},
              {"lastMinute",
               {{"completed", completed_last_minute},
                {"perSecond", static_cast<double>(completed_last_minute) / 60.0},
                {"p50Ms", ms(percentile(50))},
                {"p99Ms", ms(percentile(99))},
                {"sampled", durations_ms.size()}}}};
}

Json StopReport::to_json() const {
  Json removed_by_queue = Json::object();
  for (const auto& q : queues)
    if (q.removed > 0) removed_by_queue[q.queue] = q.removed;
  return Json{{"session", session},         {"found", found},
              {"cancelledRuns", cancelled_runs}, {"removedJobs", removed},
              {"removedByQueue", removed_by_queue}, {"stillActive", still_active}};
}

Result<std::optional<SessionSummary>> find_session(Connection& c, const KeySpace& keys, const std::string& id) {
  auto r = c.pipeline({{"HGETALL", keys.session(id)}, {"ZCARD", keys.session_running(id)}});
  if (!r) return fail(std::move(r.error()));
  const Reply& hash = (*r)[0];
  if (!hash.is_array()) return fail(bad_reply(keys.session(id), hash));
  if (hash.elements.empty()) return std::optional<SessionSummary>{};
  return std::optional<SessionSummary>{summary_of(id, hash, (*r)[1].integer)};
}

Result<std::vector<SessionSummary>> list_sessions(Connection& c, const KeySpace& keys, std::size_t limit,
                                                  long long* total) {
  std::vector<SessionSummary> out;
  if (limit == 0) return out;
  auto ids = c.command({"ZREVRANGE", keys.sessions(), "0", std::to_string(limit - 1)});
  if (!ids) return fail(std::move(ids.error()));
  if (!ids->is_array()) return fail(bad_reply(keys.sessions(), *ids));
  if (total != nullptr) {
    auto n = c.command({"ZCARD", keys.sessions()});
    if (!n) return fail(std::move(n.error()));
    *total = n->integer;
  }
  std::vector<std::vector<std::string>> reads;
  for (const auto& id : ids->elements) {
    reads.push_back({"HGETALL", keys.session(id.str)});
    reads.push_back({"ZCARD", keys.session_running(id.str)});
  }
  if (reads.empty()) return out;
  auto r = c.pipeline(reads);
  if (!r) return fail(std::move(r.error()));
  std::vector<std::string> expired{"ZREM", keys.sessions()};
  for (std::size_t i = 0; i < ids->elements.size(); ++i) {
    const Reply& hash = (*r)[2 * i];
    if (!hash.is_array() || hash.elements.empty()) {
      expired.push_back(ids->elements[i].str);  // its keys expired: the index forgets it
      continue;
    }
    out.push_back(summary_of(ids->elements[i].str, hash, (*r)[2 * i + 1].integer));
  }
  if (expired.size() > 2) {
    (void)c.command(expired);  // best effort: the next list tries again
    if (total != nullptr) *total -= static_cast<long long>(expired.size() - 2);
  }
  return out;
}

Result<std::vector<SessionQueue>> session_queues(Connection& c, const KeySpace& keys, const std::string& id,
                                                 std::size_t max_samples) {
  return scan(c, keys, id, "count", max_samples);
}

Result<StopReport> stop_session(Connection& c, const KeySpace& keys, const std::string& id, Millis grace,
                                const CancelToken& cancel) {
  StopReport report;
  report.session = id;
  auto found = find_session(c, keys, id);
  if (!found) return fail(std::move(found.error()));
  if (!*found) return stop_unnamed(c, keys, id, std::move(report));
  report.found = true;

  // 1. Every running run ends CANCELLED, so waiters return and workers cancel its active steps.
  auto running = c.command({"ZRANGE", keys.session_running(id), "0", "-1"});
  if (!running) return fail(std::move(running.error()));
  for (const auto& run : running->elements) report.cancelled_runs.push_back(run.str);
  if (auto r = c.command({"HSET", keys.session(id), "stopped", std::to_string(unix_ms())}); !r) {
    return fail(std::move(r.error()));
  }
  const Error why = errors::cancelled("session " + id + " stopped");
  if (auto st = cancel_runs(c, keys, report.cancelled_runs, id, why); !st) return fail(std::move(st.error()));

  // 2. Its queued jobs go at once.
  auto removed = scan(c, keys, id, "remove", 0);
  if (!removed) return fail(std::move(removed.error()));
  report.queues = std::move(*removed);

  // 3. Its active steps get the grace to end; then whatever is left of it goes.
  const Deadline until = SteadyClock::now() + grace;
  while (true) {
    auto now = scan(c, keys, id, "count", 0);
    if (!now) return fail(std::move(now.error()));
    report.still_active = 0;
    for (const auto& q : *now) report.still_active += q.active;
    if (report.still_active == 0 || SteadyClock::now() >= until || cancel.cancelled()) break;
    std::this_thread::sleep_for(kGracePoll);
  }
  auto purged = scan(c, keys, id, "purge", 0);
  if (!purged) return fail(std::move(purged.error()));
  for (auto& q : *purged) {
    auto it = std::find_if(report.queues.begin(), report.queues.end(), [&](const auto& r) { return r.queue == q.queue; });
    if (it == report.queues.end()) {
      report.queues.push_back(q);
    } else {
      it->removed += q.removed;
    }
  }
  for (const auto& q : report.queues) report.removed += q.removed;
  return report;
}

}  // namespace am2z::redis
