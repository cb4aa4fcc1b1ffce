#include "core/redis/live_workers.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "core/json_limits.hpp"

namespace am2z::redis {

namespace {

long long beat_number(const Json& beat, const char* field) {
  const auto it = beat.find(field);
  return it != beat.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

std::string text(const Json& beat, const char* field) {
  const auto it = beat.find(field);
  return it != beat.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// The heartbeat keys, sorted, each once.
Result<std::vector<std::string>> heartbeat_keys(Connection& c, const KeySpace& keys) {
  std::vector<std::string> found;
  if (auto st = scan(c, keys.worker("*"), [&](std::string&& k) { found.push_back(std::move(k)); }); !st) {
    return fail(std::move(st.error()));
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

}  // namespace

Result<std::vector<LiveWorker>> live_workers(Connection& c, const KeySpace& keys) {
  auto names = heartbeat_keys(c, keys);
  if (!names) return fail(std::move(names.error()));
  std::vector<LiveWorker> workers;
  if (names->empty()) return workers;
  std::vector<std::string> mget{"MGET"};
  mget.insert(mget.end(), names->begin(), names->end());
  auto r = c.command(mget);
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::network("MGET", 0, r->str));
  for (std::size_t i = 0; i < r->elements.size() && i < names->size(); ++i) {
    const Reply& value = r->elements[i];
    if (value.is_nil()) continue;  // expired between SCAN and MGET
    auto beat = parse_outside_json(value.str, JsonLimits{.max_bytes = 1 << 20});
    if (!beat || !beat->is_object()) {
      spdlog::warn("{}: not a worker heartbeat (a JSON object); skipped", (*names)[i]);
      continue;
    }
    LiveWorker w;
    w.name = text(*beat, "name");
    w.host = text(*beat, "host");
    w.pid = beat_number(*beat, "pid");
    w.concurrency = beat_number(*beat, "concurrency");
    w.active = beat_number(*beat, "active");
    w.completed = beat_number(*beat, "completed");
    w.failed = beat_number(*beat, "failed");
    w.started_ms = beat_number(*beat, "started");
    w.seen_ms = beat_number(*beat, "seen");
    if (const auto q = beat->find("queues"); q != beat->end() && q->is_array()) {
      for (const auto& name : *q)
        if (name.is_string()) w.queues.push_back(name.get<std::string>());
    }
    w.beat = std::move(*beat);
    workers.push_back(std::move(w));
  }
  std::sort(workers.begin(), workers.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return workers;
}

std::vector<std::string> unserved(const std::vector<std::string>& queues, const std::vector<LiveWorker>& workers) {
  std::set<std::string> served;
  for (const auto& w : workers) served.insert(w.queues.begin(), w.queues.end());
  std::vector<std::string> missing;
  for (const auto& q : queues)
    if (!served.contains(q)) missing.push_back(q);
  return missing;
}

}  // namespace am2z::redis
