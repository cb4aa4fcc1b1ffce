#include "core/redis/queue_stats.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <set>

#include "core/redis/submitter.hpp"

namespace am2z::redis {

namespace {

/// A queue's own keys (not its jobs') that only adding jobs creates; a worker serving an empty
/// queue creates others (marker, stalled-check), which must not make it a queue. A queue whose jobs
/// were all removed keeps its events stream; BullMQ's own queues also have meta and id.
// clang-format off
constexpr std::string_view kQueueKeyKinds[] = {
    "meta", "id", "events", "wait", "paused", "active", "prioritized", "delayed", "waiting-children", "completed",
    "failed"};
// clang-format on

/// The commands per queue in the counts pipeline, in the order read_counts reads them.
constexpr std::size_t kCountCommands = 10;

long long integer_of(const Reply& r) { return r.type == Reply::Type::integer ? r.integer : 0; }

std::optional<long long> number_of(const Reply& r) {
  long long v = 0;
  const char* end = r.str.data() + r.str.size();
  if (r.type != Reply::Type::string || std::from_chars(r.str.data(), end, v).ptr != end) return std::nullopt;
  return v;
}

/// Appends the counts and the window's two ZCOUNTs of one queue.
void add_count_commands(std::vector<std::vector<std::string>>& out, const std::string& q, const std::string& since) {
  for (const char* list : {"wait", "paused", "active"}) out.push_back({"LLEN", queue_key(q, list)});
  for (const char* set : {"delayed", "prioritized", "waiting-children", "completed", "failed"})
    out.push_back({"ZCARD", queue_key(q, set)});
  for (const char* set : {"completed", "failed"}) out.push_back({"ZCOUNT", queue_key(q, set), since, "+inf"});
}

void read_counts(const Reply* r, QueueStats& s) {
  s.counts.waiting = integer_of(r[0]) + integer_of(r[1]);
  s.counts.active = integer_of(r[2]);
  s.counts.delayed = integer_of(r[3]);
  s.counts.prioritized = integer_of(r[4]);
  s.counts.waiting_children = integer_of(r[5]);
  s.counts.completed = integer_of(r[6]);
  s.counts.failed = integer_of(r[7]);
  s.window.completed = integer_of(r[8]);
  s.window.failed = integer_of(r[9]);
}

/// The step durations of the jobs of `q` (key prefix) that finished last since `since`, at most
/// `cap` of them: the newest ids of both sets by finishedOn score, then their job hashes.
Status sample_durations(Connection& c, const std::string& q, const std::string& since, std::size_t cap,
                        std::vector<long long>& out) {
  const std::string limit = std::to_string(cap);
  auto ids =
      c.pipeline({{"ZREVRANGEBYSCORE", queue_key(q, "completed"), "+inf", since, "WITHSCORES", "LIMIT", "0", limit},
                  {"ZREVRANGEBYSCORE", queue_key(q, "failed"), "+inf", since, "WITHSCORES", "LIMIT", "0", limit}});
  if (!ids) return fail(std::move(ids.error()));
  std::vector<std::pair<double, std::string>> newest;  // (finishedOn, id)
  for (Reply& set : *ids) {
    for (std::size_t i = 0; i + 1 < set.elements.size(); i += 2) {
      newest.emplace_back(std::strtod(set.elements[i + 1].str.c_str(), nullptr), std::move(set.elements[i].str));
    }
  }
  if (newest.size() > cap) {
    std::nth_element(newest.begin(), newest.begin() + static_cast<std::ptrdiff_t>(cap), newest.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    newest.resize(cap);
  }
  std::vector<std::vector<std::string>> reads;
  reads.reserve(newest.size());
  for (const auto& [score, id] : newest) reads.push_back({"HMGET", job_key(q, id), "processedOn", "finishedOn"});
  auto times = c.pipeline(reads);
  if (!times) return fail(std::move(times.error()));
  for (const Reply& t : *times) {
    if (!t.is_array() || t.elements.size() != 2) continue;  // removed since, or not a job hash
    const auto processed = number_of(t.elements[0]);
    const auto finished = number_of(t.elements[1]);
    if (processed && finished && *finished >= *processed) out.push_back(*finished - *processed);
  }
  return {};
}

}  // namespace

QueueCounts& QueueCounts::operator+=(const QueueCounts& o) {
  waiting += o.waiting;
  active += o.active;
  delayed += o.delayed;
  prioritized += o.prioritized;
  waiting_children += o.waiting_children;
  completed += o.completed;
  failed += o.failed;
  return *this;
}

double WindowStats::jobs_per_second() const {
  return static_cast<double>(finished()) * 1000.0 / static_cast<double>(kStatsWindow.count());
}

std::optional<long long> WindowStats::percentile_ms(double p) const {
  if (durations_ms.empty()) return std::nullopt;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(durations_ms.size())));
  return durations_ms[std::clamp<std::size_t>(rank, 1, durations_ms.size()) - 1];
}

WindowStats& WindowStats::operator+=(const WindowStats& o) {
  completed += o.completed;
  failed += o.failed;
  const auto middle = static_cast<std::ptrdiff_t>(durations_ms.size());
  durations_ms.insert(durations_ms.end(), o.durations_ms.begin(), o.durations_ms.end());
  std::inplace_merge(durations_ms.begin(), durations_ms.begin() + middle, durations_ms.end());
  return *this;
}

Result<std::vector<std::string>> discover_queues(Connection& c, const KeySpace& keys) {
  std::set<std::string, std::less<>> queues;
  auto st = scan(c, keys.all_queue_keys(), [&](std::string&& key) {
    const auto parts = keys.split_queue_key(key);
    if (!parts || queues.contains(parts->first)) return;
    if (std::ranges::find(kQueueKeyKinds, parts->second) != std::end(kQueueKeyKinds)) queues.emplace(parts->first);
  });
  if (!st) return fail(std::move(st.error()));
  return std::vector<std::string>(queues.begin(), queues.end());
}

Result<std::vector<QueueStats>> queue_stats(Connection& c, const KeySpace& keys, const std::vector<std::string>& queues,
                                            const QueueStatsOptions& options) {
  const long long now = options.now_ms != 0 ? options.now_ms : unix_ms();
  const std::string since = std::to_string(now - kStatsWindow.count());
  std::vector<std::vector<std::string>> commands;
  commands.reserve(queues.size() * kCountCommands);
  for (const auto& name : queues) add_count_commands(commands, keys.queue(name), since);
  auto replies = c.pipeline(commands);
  if (!replies) return fail(std::move(replies.error()));
  std::vector<QueueStats> out(queues.size());
  for (std::size_t i = 0; i < queues.size(); ++i) {
    QueueStats& s = out[i];
    s.name = queues[i];
    read_counts(replies->data() + i * kCountCommands, s);
    if (s.window.finished() == 0 || options.sample_cap == 0) continue;
    auto st = sample_durations(c, keys.queue(s.name), since, options.sample_cap, s.window.durations_ms);
    if (!st) return fail(std::move(st.error()));
    std::sort(s.window.durations_ms.begin(), s.window.durations_ms.end());
  }
  return out;
}

}  // namespace am2z::redis
