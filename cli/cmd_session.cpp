// am2z session list|stats|stop: the sessions of a deployment, read and stopped from any machine.
#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "cli/redis_support.hpp"
#include "core/redis/sessions.hpp"
#include "core/redis/submitter.hpp"

namespace am2z::cli {

namespace {

struct SessionArgs {
  RedisArgs redis;
  std::string id;
  bool json = false;
  std::size_t limit = 50;
  std::string grace = "10s";
};

/// "3s ago", "5m ago", "2h ago" for a Unix-ms time; "-" for none.
std::string ago(long long then_ms) {
  if (then_ms <= 0) return "-";
  const long long s = std::max(0LL, (redis::unix_ms() - then_ms) / 1000);
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 7200) return std::to_string(s / 60) + "m ago";
  if (s < 172800) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

std::string ms_text(long long v) { return v < 0 ? "-" : std::to_string(v) + "ms"; }

int list(const SessionArgs& a) {
  auto conn = connect_for(a.redis, "session list");
  if (!conn) return kExitUnreachable;
  long long total = 0;
  auto sessions = redis::list_sessions(*conn, redis::KeySpace(a.redis.prefix), a.limit, &total);
  if (!sessions) return redis_failed("session list", sessions.error());
  if (a.json) {
    Json out = Json::array();
    for (const auto& s : *sessions) out.push_back(s.to_json());
    print_json(Json{{"sessions", std::move(out)}, {"total", total}}, false);
    return kExitSuccess;
  }
  std::printf("%-28s %6s %8s %9s %7s %9s  %-10s %-10s\n", "SESSION", "RUNS", "RUNNING", "COMPLETED", "FAILED",
              "CANCELLED", "FIRST", "LAST");
  for (const auto& s : *sessions) {
    std::printf("%-28s %6lld %8lld %9lld %7lld %9lld  %-10s %-10s%s\n", s.id.c_str(), s.runs, s.running, s.completed,
                s.failed, s.cancelled, ago(s.first_ms).c_str(), ago(s.last_ms).c_str(),
                s.stopped_ms > 0 ? "  stopped" : "");
  }
  if (total > static_cast<long long>(sessions->size()))
    std::printf("(%lld more; --limit N shows more)\n", total - static_cast<long long>(sessions->size()));
  return kExitSuccess;
}

int unknown_session(const SessionArgs& a, const char* command) {
  std::fprintf(stderr, "am2z session %s: no session '%s' under prefix '%s' (never used, or expired)\n", command,
               a.id.c_str(), a.redis.prefix.c_str());
  return kExitPending;
}

int stats(const SessionArgs& a) {
  auto conn = connect_for(a.redis, "session stats");
  if (!conn) return kExitUnreachable;
  const redis::KeySpace keys(a.redis.prefix);
  auto found = redis::find_session(*conn, keys, a.id);
  if (!found) return redis_failed("session stats", found.error());
  if (!*found) return unknown_session(a, "stats");
  auto queues = redis::session_queues(*conn, keys, a.id);
  if (!queues) return redis_failed("session stats", queues.error());
  if (a.json) {
    Json out = (*found)->to_json();
    out["queues"] = Json::array();
    for (const auto& q : *queues) out["queues"].push_back(q.to_json());
    print_json(out, false);
    return kExitSuccess;
  }
  const auto& s = **found;
  std::printf("session %s: %lld runs, %lld running, %lld completed, %lld failed, %lld cancelled; last activity %s\n",
              s.id.c_str(), s.runs, s.running, s.completed, s.failed, s.cancelled, ago(s.last_ms).c_str());
  std::printf("%-30s %7s %6s %7s %9s %6s %8s %8s %8s\n", "QUEUE", "WAITING", "ACTIVE", "DELAYED", "COMPLETED",
              "FAILED", "LAST-MIN", "P50", "P99");
  for (const auto& q : *queues) {
    std::printf("%-30s %7lld %6lld %7lld %9lld %6lld %8lld %8s %8s\n", q.queue.c_str(),
                q.waiting + q.prioritized + q.waiting_children, q.active, q.delayed, q.completed, q.failed,
                q.completed_last_minute, ms_text(q.percentile(50)).c_str(), ms_text(q.percentile(99)).c_str());
  }
  return kExitSuccess;
}

int stop(const SessionArgs& a) {
  auto grace = parse_duration_flag(a.grace, {.command = "session stop", .flag = "--grace", .allow_zero = true});
  if (!grace) return kExitUsage;
  auto conn = connect_for(a.redis, "session stop");
  if (!conn) return kExitUnreachable;
  auto report = redis::stop_session(*conn, redis::KeySpace(a.redis.prefix), a.id, *grace, install_interrupt_handler());
  if (!report) return redis_failed("session stop", report.error());
  if (a.json) {
    print_json(report->to_json(), false);
    return kExitSuccess;
  }
  if (!report->found) {
    std::printf("session %s: nothing to stop (never used, or expired)\n", a.id.c_str());
    return kExitSuccess;
  }
  std::printf("session %s stopped: %zu running run(s) cancelled, %lld job(s) removed", a.id.c_str(),
              report->cancelled_runs.size(), report->removed);
  std::string sep = " (";
  for (const auto& q : report->queues) {
    if (q.removed == 0) continue;
    std::printf("%s%s: %lld", sep.c_str(), q.queue.c_str(), q.removed);
    sep = ", ";
  }
  std::printf("%s", sep == ", " ? ")" : "");
  if (report->still_active > 0) std::printf("; %lld step(s) still active after the grace", report->still_active);
  std::printf("\n");
  return kExitSuccess;
}

}  // namespace

CommandHandler add_session_command(CLI::App& app) {
  auto args = std::make_shared<SessionArgs>();
  CLI::App* cmd = app.add_subcommand("session", "List, inspect and stop the sessions of distributed runs");
  cmd->require_subcommand(1);
  CLI::App* list_cmd = cmd->add_subcommand("list", "Sessions by last activity, with their runs' counts");
  CLI::App* stats_cmd = cmd->add_subcommand("stats", "A session's jobs per queue, throughput and step durations");
  CLI::App* stop_cmd = cmd->add_subcommand("stop", "Cancel a session's runs and remove its jobs");
  for (CLI::App* sub : {list_cmd, stats_cmd, stop_cmd}) {
    add_redis_options(sub, args->redis, "Redis URL (default: REDIS_URL)");
    sub->add_flag("--json", args->json, "Print JSON");
  }
  list_cmd->add_option("--limit", args->limit, "Show the N most recently active sessions (default 50)")
      ->check(CLI::Range(1, 1000000));
  for (CLI::App* sub : {stats_cmd, stop_cmd}) sub->add_option("id", args->id, "Session id")->required();
  stop_cmd->add_option("--grace", args->grace,
                       "How long active steps get to end before the session's last jobs are removed (default 10s)");
  return [args, list_cmd, stats_cmd](const GlobalOptions&) {
    if (list_cmd->parsed()) return list(*args);
    if (stats_cmd->parsed()) return stats(*args);
    return stop(*args);
  };
}

}  // namespace am2z::cli
