// am2z events [--session ID] [--run ID] [--follow] [--json]: the events of distributed runs
// submitted with events on, read from Redis by any process.
#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "cli/redis_support.hpp"
#include "core/redis/event_stream.hpp"

namespace am2z::cli {

namespace {

struct EventsArgs {
  RedisArgs redis;
  redis::EventFilter filter;
  bool follow = false;
  bool json = false;
};

/// How long one blocking read waits before the follower looks at Ctrl-C again.
constexpr Millis kFollowPoll{500};
/// The longest wait between two attempts of a follower that lost Redis.
constexpr Millis kMaxBackoff{2000};

/// One line a person reads: time, run, event, and what says most about it.
std::string text_line(const Json& e) {
  auto str = [&](const char* key) { return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : ""; };
  std::string line = str("ts") + "  " + str("runId") + "  " + str("event");
  if (e.contains("processor")) line += "  " + str("processor");
  if (e.contains("flow")) line += "  " + str("flow");
  if (e.contains("attempt") && e["attempt"].is_number()) line += "  attempt=" + e["attempt"].dump();
  if (e.contains("durationMs") && e["durationMs"].is_number()) line += "  " + e["durationMs"].dump() + "ms";
  if (e.contains("error") && e["error"].is_object()) line += "  " + e["error"].value("message", "");
  if (e.contains("data")) line += "  " + dump_text(e["data"]);
  return line;
}

int run(const EventsArgs& a) {
  // First: a Ctrl-C while connecting ends a follower as one while it follows (exit 0), not by the
  // default signal action (130).
  const CancelToken interrupt = install_interrupt_handler();
  auto endpoint = resolve_endpoint(a.redis, "events");
  if (!endpoint) return kExitUsage;
  auto conn = connect_or_report(*endpoint, "events");
  if (!conn) return kExitUnreachable;
  const redis::KeySpace keys(a.redis.prefix);
  std::string after = "0-0";
  Millis backoff = kFollowPoll / 2;
  bool lost = false;  // a follower's last read failed
  while (true) {
    auto batch = redis::read_events(*conn, keys, after, a.filter,
                                    a.follow ? std::optional<Millis>(kFollowPoll) : std::nullopt);
    if (!batch) {
      std::fprintf(stderr, "am2z events: %s\n", batch.error().message.c_str());
      if (!a.follow) return kExitUnreachable;
      // A follower outlives a Redis restart, as a waiting `run --redis` does: it reads on from
      // the last entry it printed once Redis answers again (backoff 200 ms doubling to 2 s).
      if (interrupt.cancelled()) return kExitSuccess;
      lost = true;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    if (lost) std::fprintf(stderr, "am2z events: Redis answers again; following on\n");
    lost = false;
    backoff = kFollowPoll / 2;
    for (const Json& e : batch->events) {
      const std::string line = a.json ? dump_text(e) : text_line(e);
      std::fprintf(stdout, "%s\n", line.c_str());
    }
    std::fflush(stdout);
    const bool read_nothing = batch->last_id == after;
    after = batch->last_id;
    if (interrupt.cancelled()) return kExitSuccess;
    if (!a.follow && read_nothing) return kExitSuccess;
  }
}

}  // namespace

CommandHandler add_events_command(CLI::App& app) {
  auto args = std::make_shared<EventsArgs>();
  CLI::App* cmd =
      app.add_subcommand("events", "Print the events of distributed runs submitted with --events or --publish-events");
  add_redis_options(cmd, args->redis, "Redis URL (default: REDIS_URL)");
  cmd->add_option("--session", args->filter.session, "Only this session's runs");
  cmd->add_option("--run", args->filter.run, "Only this run");
  cmd->add_flag("-f,--follow", args->follow, "Keep printing new events until Ctrl-C");
  cmd->add_flag("--json", args->json, "One JSON object per line, as run --events writes them");
  return [args](const GlobalOptions&) { return run(*args); };
}

}  // namespace am2z::cli
