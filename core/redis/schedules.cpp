#include "core/redis/schedules.hpp"

#include <algorithm>
#include <map>

#include "core/cron.hpp"
#include "core/redis/submitter.hpp"

namespace am2z::redis {

namespace {

long long to_number(const std::map<std::string, std::string>& f, const char* key) {
  const auto it = f.find(key);
  if (it == f.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return 0;
  }
}

std::string text_of(const std::map<std::string, std::string>& f, const char* key) {
  const auto it = f.find(key);
  return it == f.end() ? std::string() : it->second;
}

Schedule from_fields(std::string id, const Reply& r) {
  std::map<std::string, std::string> f;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) f[r.elements[i].str] = r.elements[i + 1].str;
  Schedule s;
  s.id = std::move(id);
  s.flow = text_of(f, "flow");
  s.every_ms = to_number(f, "every");
  s.cron = text_of(f, "cron");
  s.session = text_of(f, "session");
  s.input = text_of(f, "input");
  s.created_ms = to_number(f, "created");
  s.next_ms = to_number(f, "next");
  s.last_ms = to_number(f, "last");
  s.fired = to_number(f, "fired");
  s.pending = text_of(f, "pending");
  s.pending_jobs = text_of(f, "pendingJobs");
  return s;
}

/// Deletes the pending occurrence's jobs that are still queued ("queueKeys|id" lines; one that
/// already ran, or runs, is left as it is) and cancels its run, so nothing more of it runs,
/// whether or not a worker promoted or took a job meanwhile.
Status drop_pending(Connection& c, const KeySpace& keys, const std::string& run, const std::string& jobs) {
  std::size_t start = 0;
  while (start < jobs.size()) {
    const auto nl = jobs.find('\n', start);
    const std::string line = jobs.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? jobs.size() : nl + 1;
    const auto bar = line.find('|');
    if (bar == std::string::npos) continue;
    const std::string q = line.substr(0, bar), id = line.substr(bar + 1);
    auto removed = c.pipeline({{"ZREM", q + "delayed", id}, {"ZREM", q + "prioritized", id}, {"LREM", q + "wait", "0", id}});
    if (!removed) return fail(std::move(removed.error()));
    bool queued = false;
    for (const Reply& r : *removed) queued = queued || (r.type == Reply::Type::integer && r.integer > 0);
    if (queued) {
      if (auto del = c.command({"DEL", q + id}); !del) return fail(std::move(del.error()));
    }
  }
  if (run.empty()) return {};
  return cancel_run(c, keys, run, generated_session(run), errors::cancelled("its schedule was removed"));
}

}  // namespace

Json Schedule::to_json() const {
  Json j{{"id", id},         {"flow", flow},       {"next", next_ms}, {"fired", fired},
         {"pending", pending}, {"created", created_ms}};
  if (every_ms > 0) j["everyMs"] = every_ms;
  if (!cron.empty()) j["cron"] = cron;
  j["session"] = session.empty() ? Json(nullptr) : Json(session);
  j["last"] = last_ms > 0 ? Json(last_ms) : Json(nullptr);
  return j;
}

bool is_schedule_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

Result<long long> next_occurrence(const Schedule& s, long long after_ms) {
  if (s.every_ms > 0) return after_ms + s.every_ms;
  auto cron = CronSchedule::parse(s.cron);
  if (!cron) return fail(std::move(cron.error()));
  return cron->next_after(after_ms);
}

Result<long long> occurrence_after(const Schedule& s, long long now_ms) {
  if (s.every_ms > 0) {
    const long long periods = s.next_ms >= now_ms ? 1 : (now_ms - s.next_ms) / s.every_ms + 1;
    return s.next_ms + periods * s.every_ms;
  }
  return next_occurrence(s, std::max(now_ms, s.next_ms));
}

std::string occurrence_run(const Schedule& s, long long at_ms) { return s.id + "-" + std::to_string(at_ms); }

Status plan_occurrence(const PlannedFlow& flow, const Schedule& s, long long expected_next, long long at_ms,
                       long long now, OpList& ops) {
  auto input = State::from_json(s.input.empty() ? Json::object() : Json::parse(s.input, nullptr, false), "");
  if (!input) {
    return fail(errors::validation(flow.keys().schedule(s.id) + " input", s.input.substr(0, 200),
                                   "is not a JSON object: " + input.error().message));
  }
  SubmitOptions options;
  options.session = s.session;
  options.keep_record = true;  // an occurrence that fails can be resumed (run --resume, dlq retry)
  options.delay = Millis(std::max(0LL, at_ms - now));
  const std::string run = occurrence_run(s, at_ms);
  plan_run(flow, std::move(*input), options, now, run, ops);
  const KeySpace& keys = flow.keys();
  ops.claim_schedule(keys.schedule(s.id), keys.schedules(), s.id, expected_next, at_ms, run, ops.added_jobs());
  return {};
}

Result<Schedule> add_schedule(Connection& c, const PlannedFlow& flow, Schedule s) {
  const KeySpace& keys = flow.keys();
  const long long now = unix_ms();
  auto first = next_occurrence(s, now);
  if (!first) return fail(std::move(first.error()));
  if (*first < 0) {
    return fail(errors::validation("cron", s.cron, "never matches a date in the next five years"));
  }
  // A schedule of the same id is replaced: its pending occurrence goes first.
  auto old = read_schedule(c, keys, s.id);
  if (!old) return fail(std::move(old.error()));
  if (*old) {
    if (auto st = drop_pending(c, keys, (*old)->pending, (*old)->pending_jobs); !st) return fail(std::move(st.error()));
  }
  s.flow = flow.flow().name;
  s.created_ms = now;
  s.next_ms = *first;
  s.last_ms = 0;
  s.fired = 0;
  s.pending = occurrence_run(s, *first);
  auto written = c.pipeline({{"DEL", keys.schedule(s.id)},
                             {"HSET", keys.schedule(s.id), "flow", s.flow, "every", std::to_string(s.every_ms), "cron",
                              s.cron, "session", s.session, "input", s.input, "created", std::to_string(now), "next",
                              "0", "fired", "0"}});
  if (!written) return fail(std::move(written.error()));
  for (const Reply& r : *written) {
    if (r.is_error()) return fail(errors::network(keys.schedule(s.id), 0, r.str));
  }
  OpList ops;
  if (auto st = plan_occurrence(flow, s, 0, *first, now, ops); !st) return fail(std::move(st.error()));
  if (auto st = send_planned(c, flow, ops, now); !st) return fail(std::move(st.error()));
  auto stored = read_schedule(c, keys, s.id);
  if (!stored) return fail(std::move(stored.error()));
  if (!*stored || (*stored)->pending != s.pending) {
    return fail(errors::configuration(keys.schedule(s.id), "schedule '" + s.id +
                                                               "' was changed by someone else meanwhile: try again"));
  }
  return std::move(**stored);
}

Result<std::optional<Schedule>> read_schedule(Connection& c, const KeySpace& keys, const std::string& id) {
  auto r = c.command({"HGETALL", keys.schedule(id)});
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::network(keys.schedule(id), 0, r->str));
  if (r->elements.empty()) return std::optional<Schedule>();
  return std::optional<Schedule>(from_fields(id, *r));
}

Result<std::vector<Schedule>> list_schedules(Connection& c, const KeySpace& keys) {
  auto ids = c.command({"ZRANGE", keys.schedules(), "0", "-1"});
  if (!ids) return fail(std::move(ids.error()));
  if (ids->is_error()) return fail(errors::network(keys.schedules(), 0, ids->str));
  std::vector<std::string> sorted;
  for (const Reply& id : ids->elements) sorted.push_back(id.str);
  std::sort(sorted.begin(), sorted.end());
  std::vector<Schedule> out;
  for (const std::string& id : sorted) {
    auto s = read_schedule(c, keys, id);
    if (!s) return fail(std::move(s.error()));
    if (*s) out.push_back(std::move(**s));
  }
  return out;
}

Result<bool> remove_schedule(Connection& c, const KeySpace& keys, const std::string& id) {
  auto s = read_schedule(c, keys, id);
  if (!s) return fail(std::move(s.error()));
  // The hash goes first: a worker's claim of the pending occurrence fails from then on.
  auto removed = c.pipeline({{"DEL", keys.schedule(id)}, {"ZREM", keys.schedules(), id}});
  if (!removed) return fail(std::move(removed.error()));
  if (!*s) return false;
  if (auto st = drop_pending(c, keys, (*s)->pending, (*s)->pending_jobs); !st) return fail(std::move(st.error()));
  return true;
}

Result<std::vector<std::string>> due_schedules(Connection& c, const KeySpace& keys, long long now_ms, int limit) {
  auto r = c.command({"ZRANGEBYSCORE", keys.schedules(), "1", std::to_string(now_ms), "LIMIT", "0",
                      std::to_string(limit)});
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::network(keys.schedules(), 0, r->str));
  std::vector<std::string> out;
  for (const Reply& id : r->elements) out.push_back(id.str);
  return out;
}

}  // namespace am2z::redis
