#include "core/redis/stats_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <span>

#include "core/redis/submitter.hpp"

namespace am2z::redis {

namespace {

/// Lines stay under 80 columns, so a terminal of 80 never wraps them.
constexpr std::size_t kLineWidth = 79;

/// A right-aligned numeric column: its header and width (a leading space included).
struct Column {
  const char* header;
  std::size_t width;
};

constexpr Column kCountColumns[] = {{"WAITING", 8},  {"ACTIVE", 7},     {"DELAYED", 8}, {"PRIOR", 6},
                                    {"CHILDREN", 9}, {"COMPLETED", 10}, {"FAILED", 7}};
constexpr Column kWindowColumns[] = {{"JOBS/S", 8}, {"FINISHED", 9}, {"FAILED", 7},
                                     {"P50", 8},    {"P99", 8},      {"SAMPLED", 8}};
constexpr Column kSessionColumns[] = {{"RUNS", 7},   {"RUNNING", 8},   {"COMPLETED", 10},
                                      {"FAILED", 7}, {"CANCELLED", 10}};
constexpr Column kWorkerColumns[] = {{"PID", 8},        {"QUEUES", 7}, {"CONC", 5},  {"ACTIVE", 7},
                                     {"COMPLETED", 10}, {"FAILED", 7}, {"UPTIME", 8}};

std::size_t width_of(std::span<const Column> columns) {
  std::size_t w = 0;
  for (const auto& c : columns) w += c.width;
  return w;
}

/// `text` cut to `width` from the left (".." marks the cut): a queue's distinctive part is its end.
std::string fit(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text + std::string(width - text.size(), ' ');
  if (width < 3) return text.substr(0, width);
  return ".." + text.substr(text.size() - (width - 2));
}

/// A queue or session name in a column of `width`: one too long for it gets a line of its own,
/// and its numbers go on the next, so no name is ever shortened.
std::string name_cell(const std::string& name, std::size_t width) {
  if (name.size() <= width) return fit(name, width);
  return name + "\n" + std::string(width, ' ');
}

std::string right(const std::string& text, std::size_t width) {
  return text.size() >= width ? " " + text : std::string(width - text.size(), ' ') + text;
}

/// Width of a name column: its longest entry (at least its header), at most `most`.
std::size_t name_width(const std::vector<std::string>& names, const char* header, std::size_t most) {
  std::size_t w = std::char_traits<char>::length(header);
  for (const auto& n : names) w = std::max(w, n.size());
  return std::min(w, most);
}

std::string header_line(const std::string& names, std::span<const Column> columns) {
  std::string line = names;
  for (const auto& c : columns) line += right(c.header, c.width);
  return line + "\n";
}

std::string row(const std::string& names, std::span<const Column> columns, const std::vector<std::string>& cells) {
  std::string line = names;
  for (std::size_t i = 0; i < columns.size(); ++i) line += right(cells[i], columns[i].width);
  return line + "\n";
}

std::string ms_text(std::optional<long long> ms) {
  if (!ms) return "-";
  if (*ms < 10'000) return std::to_string(*ms) + "ms";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(*ms) / 1000.0);
  return buf;
}

std::string rate_text(double per_second) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", per_second);
  return buf;
}

std::string uptime_text(long long ms) {
  const long long s = std::max(ms, 0LL) / 1000;
  char buf[32];
  if (s >= 86'400)
    std::snprintf(buf, sizeof buf, "%lldd%lldh", s / 86'400, s % 86'400 / 3600);
  else if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%lldm", s / 3600, s % 3600 / 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

std::string iso_time(long long unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

long long uptime_ms(const LiveWorker& w) { return w.started_ms > 0 ? w.seen_ms - w.started_ms : 0; }

Json counts_json(const QueueCounts& c) {
  return {{"waiting", c.waiting},
          {"active", c.active},
          {"delayed", c.delayed},
          {"prioritized", c.prioritized},
          {"completed", c.completed},
          {"failed", c.failed},
          {"waitingChildren", c.waiting_children}};
}

Json window_json(const WindowStats& w) {
  const auto ms_or_null = [](std::optional<long long> v) { return v ? Json(*v) : Json(nullptr); };
  return {{"completed", w.completed},
          {"failed", w.failed},
          {"perSecond", std::round(w.jobs_per_second() * 1000.0) / 1000.0},
          {"sampled", w.durations_ms.size()},
          {"p50Ms", ms_or_null(w.percentile_ms(50))},
          {"p99Ms", ms_or_null(w.percentile_ms(99))}};
}

std::vector<std::string> count_cells(const QueueCounts& c) {
  return {std::to_string(c.waiting),     std::to_string(c.active),           std::to_string(c.delayed),
          std::to_string(c.prioritized), std::to_string(c.waiting_children), std::to_string(c.completed),
          std::to_string(c.failed)};
}

std::vector<std::string> window_cells(const WindowStats& w) {
  return {rate_text(w.jobs_per_second()), std::to_string(w.finished()), std::to_string(w.failed),
          ms_text(w.percentile_ms(50)),   ms_text(w.percentile_ms(99)), std::to_string(w.durations_ms.size())};
}

void queue_tables(const Snapshot& s, std::string& out) {
  if (s.queues.empty()) {
    out += "no queues under prefix '" + s.prefix + "'\n";
    return;
  }
  std::vector<std::string> names;
  for (const auto& q : s.queues) names.push_back(q.name);
  const std::size_t w = name_width(names, "QUEUE", kLineWidth - width_of(kCountColumns));
  out += header_line(fit("QUEUE", w), kCountColumns);
  for (const auto& q : s.queues) out += row(name_cell(q.name, w), kCountColumns, count_cells(q.counts));
  out += row(fit("total", w), kCountColumns, count_cells(s.totals.counts));

  out += "\n" + header_line(fit("LAST MINUTE", std::max<std::size_t>(w, 11)), kWindowColumns);
  for (const auto& q : s.queues) {
    if (q.window.finished() > 0)
      out += row(name_cell(q.name, std::max<std::size_t>(w, 11)), kWindowColumns, window_cells(q.window));
  }
  out += row(fit("total", std::max<std::size_t>(w, 11)), kWindowColumns, window_cells(s.totals.window));
}

void session_table(const Snapshot& s, std::string& out) {
  if (s.sessions.empty()) return;
  std::vector<std::string> names;
  for (const auto& x : s.sessions) names.push_back(x.id);
  const std::size_t w = name_width(names, "SESSION", kLineWidth - width_of(kSessionColumns));
  out += "\n" + header_line(fit("SESSION", w), kSessionColumns);
  for (const auto& x : s.sessions) {
    out += row(name_cell(x.id, w), kSessionColumns,
               {std::to_string(x.runs), std::to_string(x.running), std::to_string(x.completed),
                std::to_string(x.failed), std::to_string(x.cancelled)});
  }
  if (s.sessions_total > static_cast<long long>(s.sessions.size()))
    out += "(" + std::to_string(s.sessions_total - static_cast<long long>(s.sessions.size())) +
           " more: am2z session list)\n";
}

void worker_table(const Snapshot& s, std::string& out) {
  out += "\n";
  if (s.workers.empty()) {
    out += "no live workers\n";
    return;
  }
  // Name and host share what the numbers leave; the longer one gives way.
  const std::size_t room = kLineWidth - width_of(kWorkerColumns) - 1;
  std::vector<std::string> names, hosts;
  for (const auto& w : s.workers) {
    names.push_back(w.name);
    hosts.push_back(w.host);
  }
  std::size_t host_w = name_width(hosts, "HOST", room);
  std::size_t name_w = name_width(names, "WORKER", room);
  if (host_w + name_w > room) {
    host_w = std::min(host_w, std::max(room / 2, room - name_w));
    name_w = room - host_w;
  }
  out += header_line(fit("WORKER", name_w) + " " + fit("HOST", host_w), kWorkerColumns);
  for (const auto& w : s.workers) {
    out += row(
        fit(w.name, name_w) + " " + fit(w.host, host_w), kWorkerColumns,
        {std::to_string(w.pid), std::to_string(w.queues.size()), std::to_string(w.concurrency),
         std::to_string(w.active), std::to_string(w.completed), std::to_string(w.failed), uptime_text(uptime_ms(w))});
  }
}

}  // namespace

Result<Snapshot> take_snapshot(Connection& c, const KeySpace& keys, const QueueStatsOptions& options) {
  Snapshot s;
  s.taken_at_ms = options.now_ms != 0 ? options.now_ms : unix_ms();
  s.redis = c.endpoint().display();
  s.prefix = keys.prefix();
  s.sample_cap = options.sample_cap;
  auto names = discover_queues(c, keys);
  if (!names) return fail(std::move(names.error()));
  QueueStatsOptions at = options;
  at.now_ms = s.taken_at_ms;
  auto queues = queue_stats(c, keys, *names, at);
  if (!queues) return fail(std::move(queues.error()));
  s.queues = std::move(*queues);
  auto workers = live_workers(c, keys);
  if (!workers) return fail(std::move(workers.error()));
  s.workers = std::move(*workers);
  auto sessions = list_sessions(c, keys, kStatsSessions, &s.sessions_total);
  if (!sessions) return fail(std::move(sessions.error()));
  s.sessions = std::move(*sessions);
  s.totals.name = "total";
  for (const auto& q : s.queues) {
    s.totals.counts += q.counts;
    s.totals.window += q.window;
  }
  return s;
}

Json to_json(const Snapshot& s) {
  Json queues = Json::array();
  for (const auto& q : s.queues) {
    Json j = counts_json(q.counts);
    j["name"] = q.name;
    j["lastMinute"] = window_json(q.window);
    queues.push_back(std::move(j));
  }
  Json workers = Json::array();
  for (const auto& w : s.workers) {
    workers.push_back({{"name", w.name},
                       {"host", w.host},
                       {"pid", w.pid},
                       {"concurrency", w.concurrency},
                       {"active", w.active},
                       {"completed", w.completed},
                       {"failed", w.failed},
                       {"queues", w.queues},
                       {"started", w.started_ms},
                       {"seen", w.seen_ms},
                       {"uptimeMs", uptime_ms(w)}});
  }
  Json sessions = Json::array();
  for (const auto& x : s.sessions) sessions.push_back(x.to_json());
  Json totals = counts_json(s.totals.counts);
  totals["queues"] = s.queues.size();
  totals["workers"] = s.workers.size();
  totals["lastMinute"] = window_json(s.totals.window);
  return {{"takenAt", s.taken_at_ms},
          {"redis", s.redis},
          {"prefix", s.prefix},
          {"windowMs", kStatsWindow.count()},
          {"sampleCap", s.sample_cap},
          {"queues", std::move(queues)},
          {"workers", std::move(workers)},
          {"sessions", std::move(sessions)},
          {"sessionsTotal", s.sessions_total},
          {"totals", std::move(totals)}};
}

std::string to_text(const Snapshot& s) {
  std::string out = "am2z stats " + s.redis + " prefix '" + s.prefix + "' at " + iso_time(s.taken_at_ms) + "\n\n";
  queue_tables(s, out);
  session_table(s, out);
  worker_table(s, out);
  return out;
}

std::string summary_line(const Snapshot& s) {
  const QueueCounts& c = s.totals.counts;
  const WindowStats& w = s.totals.window;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s queues=%zu waiting=%lld active=%lld delayed=%lld completed=%lld failed=%lld workers=%zu "
                "jobs/s=%s p50=%s p99=%s",
                iso_time(s.taken_at_ms).c_str(), s.queues.size(), c.waiting, c.active, c.delayed, c.completed, c.failed,
                s.workers.size(), rate_text(w.jobs_per_second()).c_str(), ms_text(w.percentile_ms(50)).c_str(),
                ms_text(w.percentile_ms(99)).c_str());
  return buf;
}

}  // namespace am2z::redis
