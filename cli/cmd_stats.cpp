// am2z stats [--json] [--watch [--interval DUR]]: the queues, live workers and last minute of a
// deployment on Redis. The numbers come from core/redis/stats_report; this file only prints them.
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "cli/redis_support.hpp"
#include "core/redis/stats_report.hpp"

namespace am2z::cli {

namespace {

/// Clears an ANSI terminal and homes the cursor, so --watch redraws in place.
constexpr const char* kClearScreen = "\x1b[H\x1b[2J";

struct StatsArgs {
  RedisArgs redis;
  bool json = false;
  bool watch = false;
  std::string interval = "2s";
};

void print_once(const redis::Snapshot& s, bool json) {
  if (json) {
    print_json(redis::to_json(s), false);
  } else {
    std::fputs(redis::to_text(s).c_str(), stdout);
  }
}

/// One view per interval until Ctrl-C or SIGTERM, which end it with exit 0: a redrawn table on a
/// terminal, one line per view otherwise so that logs and pipes stay readable.
int watch(redis::Connection& conn, const redis::KeySpace& keys, const StatsArgs& a, Millis interval,
          const CancelToken& stop) {
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  while (!stop.cancelled()) {
    auto s = redis::take_snapshot(conn, keys);
    if (!s) {
      // Redis went away after we started: say so and keep watching, as a dashboard would.
      std::fprintf(stderr, "am2z stats: %s\n", s.error().message.c_str());
    } else if (a.json) {
      std::printf("%s\n", dump_text(redis::to_json(*s)).c_str());
    } else if (terminal) {
      std::printf("%s%s", kClearScreen, redis::to_text(*s).c_str());
    } else {
      std::printf("%s\n", redis::summary_line(*s).c_str());
    }
    std::fflush(stdout);
    stop.wait_for(interval);
  }
  return kExitSuccess;
}

int run(const StatsArgs& a) {
  const auto interval =
      parse_duration_flag(a.interval, {.command = "stats", .flag = "--interval", .expected = "a positive duration"});
  if (!interval) return kExitUsage;
  // --watch is stopped with Ctrl-C; the handler goes in first so that a signal arriving while we
  // connect still ends the watch cleanly (exit 0) instead of killing the process (130).
  std::optional<CancelToken> stop;
  if (a.watch) stop = install_interrupt_handler();
  auto endpoint = resolve_endpoint(a.redis, "stats");
  if (!endpoint) return kExitUsage;
  auto conn = connect_or_report(*endpoint, "stats");
  if (!conn) return kExitUnreachable;
  const redis::KeySpace keys(a.redis.prefix);
  if (a.watch) return watch(*conn, keys, a, *interval, *stop);
  auto s = redis::take_snapshot(*conn, keys);
  if (!s) {
    std::fprintf(stderr, "am2z stats: %s\n", s.error().message.c_str());
    return kExitUnreachable;
  }
  print_once(*s, a.json);
  return kExitSuccess;
}

}  // namespace

CommandHandler add_stats_command(CLI::App& app) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* cmd = app.add_subcommand("stats", "Show the queues, live workers and last minute of a deployment on Redis");
  add_redis_options(cmd, args->redis, "Redis URL (default: REDIS_URL)");
  cmd->add_flag("--json", args->json, "Print one JSON object (with --watch: one per line)");
  CLI::Option* watch = cmd->add_flag("-w,--watch", args->watch, "Show the stats again every --interval until Ctrl-C");
  cmd->add_option("--interval", args->interval, "With --watch: time between two views")
      ->capture_default_str()
      ->needs(watch);
  return [args](const GlobalOptions&) { return run(*args); };
}

}  // namespace am2z::cli
