// am2z schedule add|list|remove: flows run periodically by the workers of a Redis.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/input.hpp"
#include "cli/redis_support.hpp"
#include "core/cron.hpp"
#include "core/redis/schedules.hpp"
#include "core/redis/submitter.hpp"
#include "core/state.hpp"
#include "core/units.hpp"
#include "flows/input_contract.hpp"

namespace am2z::cli {

namespace {

struct ScheduleArgs {
  RedisArgs redis;
  std::string flow;
  std::string id;
  std::string every;
  std::string cron;
  std::string input;
  std::vector<std::string> sets;
  std::string session;
  std::vector<std::string> plugins;
  bool json = false;
};

int usage(const char* command, const std::string& message) {
  std::fprintf(stderr, "am2z schedule %s: %s\n", command, message.c_str());
  return kExitUsage;
}

std::string format_timestamp_ms(long long ms) {
  return format_timestamp(SystemClock::time_point(std::chrono::milliseconds(ms)));
}

std::string when(const redis::Schedule& s) {
  if (s.every_ms > 0) return "every " + format_duration(Millis(s.every_ms));
  return "cron '" + s.cron + "'";
}

int add(const ScheduleArgs& a) {
  if (a.every.empty() == a.cron.empty()) return usage("add", "give exactly one of --every DUR and --cron EXPR");
  if (!a.id.empty() && !redis::is_schedule_id(a.id)) {
    return usage("add", "--id '" + a.id + "': letters, digits, '_' and '-', at most 64 characters");
  }
  redis::Schedule s;
  s.id = a.id;
  s.session = a.session;
  if (!a.every.empty()) {
    auto every = parse_duration_flag(a.every, {.command = "schedule add", .flag = "--every",
                                               .expected = "a duration such as 30s", .allow_zero = false});
    if (!every) return kExitUsage;
    s.every_ms = every->count();
  } else {
    auto cron = CronSchedule::parse(a.cron);
    if (!cron) return usage("add", "--cron '" + a.cron + "': " + cron.error().context.value("reason", ""));
    s.cron = a.cron;
  }
  auto catalog = load_plugins(a.plugins);
  if (!catalog) return kExitInvalid;
  auto flow = plan_flow_file(a.flow, *catalog, a.redis.prefix);
  if (!flow) return kExitInvalid;
  if (s.id.empty()) s.id = flow->flow().name;
  if (!redis::is_schedule_id(s.id)) {
    return usage("add", "flow name '" + s.id + "' cannot name a schedule (letters, digits, '_' and '-'): give --id");
  }
  // The input is checked now, as `run` checks it: a schedule must not fail at every occurrence.
  auto read = read_input_document(a.input, a.sets);
  if (!read) {
    print_error(read.error());
    return kExitInvalid;
  }
  const Json doc = std::move(*read);
  auto state = State::from_json(doc, "");
  if (!state) {
    print_error(state.error());
    return kExitInvalid;
  }
  if (auto st = check_input(flow->flow(), state->data); !st) {
    print_error(st.error());
    return kExitInvalid;
  }
  s.input = doc.dump();
  auto conn = connect_for(a.redis, "schedule add");
  if (!conn) return kExitUnreachable;
  auto stored = redis::add_schedule(*conn, *flow, s);
  if (!stored) {
    if (stored.error().category == ErrorCategory::validation) return usage("add", stored.error().message);
    return redis_failed("schedule add", stored.error());
  }
  if (a.json) {
    print_json(stored->to_json(), true);
  } else {
    std::printf("schedule %s: flow %s %s, next run %s at %s\n", stored->id.c_str(), stored->flow.c_str(),
                when(*stored).c_str(), stored->pending.c_str(), format_timestamp_ms(stored->next_ms).c_str());
  }
  return kExitSuccess;
}

int list(const ScheduleArgs& a) {
  auto conn = connect_for(a.redis, "schedule list");
  if (!conn) return kExitUnreachable;
  auto all = redis::list_schedules(*conn, redis::KeySpace(a.redis.prefix));
  if (!all) return redis_failed("schedule list", all.error());
  if (a.json) {
    Json out = Json::array();
    for (const auto& s : *all) out.push_back(s.to_json());
    print_json(Json{{"schedules", std::move(out)}}, true);
    return kExitSuccess;
  }
  std::printf("%-24s %-24s %-28s %-24s %6s\n", "SCHEDULE", "FLOW", "WHEN", "NEXT (UTC)", "FIRED");
  for (const auto& s : *all) {
    std::printf("%-24s %-24s %-28s %-24s %6lld\n", s.id.c_str(), s.flow.c_str(), when(s).c_str(),
                format_timestamp_ms(s.next_ms).c_str(), s.fired);
  }
  return kExitSuccess;
}

int remove(const ScheduleArgs& a) {
  auto conn = connect_for(a.redis, "schedule remove");
  if (!conn) return kExitUnreachable;
  auto removed = redis::remove_schedule(*conn, redis::KeySpace(a.redis.prefix), a.id);
  if (!removed) return redis_failed("schedule remove", removed.error());
  if (!*removed) {
    std::fprintf(stderr, "am2z schedule remove: no schedule '%s'\n", a.id.c_str());
    return kExitFailure;
  }
  if (a.json) {
    print_json(Json{{"removed", a.id}}, true);
  } else {
    std::printf("schedule %s removed, with its pending run\n", a.id.c_str());
  }
  return kExitSuccess;
}

}  // namespace

CommandHandler add_schedule_command(CLI::App& app) {
  auto args = std::make_shared<ScheduleArgs>();
  CLI::App* cmd = app.add_subcommand("schedule", "Run a flow periodically on the workers of a Redis");
  cmd->require_subcommand(1);
  CLI::App* add_cmd = cmd->add_subcommand("add", "Create or replace a schedule; its next run waits as a delayed job");
  CLI::App* list_cmd = cmd->add_subcommand("list", "Every schedule, with its next run");
  CLI::App* remove_cmd = cmd->add_subcommand("remove", "Delete a schedule and its pending run");
  for (CLI::App* sub : {add_cmd, list_cmd, remove_cmd}) {
    add_redis_options(sub, args->redis, "Redis URL (default: REDIS_URL)");
    sub->add_flag("--json", args->json, "Print JSON");
  }
  add_cmd->add_option("flow", args->flow, "Flow file (YAML), as the workers load it")->required();
  add_cmd->add_option("--id", args->id, "Schedule id (default: the flow's name); an existing one is replaced");
  add_cmd->add_option("--every", args->every, "A fixed period, e.g. 30s or 1h; the first run one period from now");
  add_cmd->add_option("--cron", args->cron,
                      "A cron expression, UTC: 5 fields (min hour day month weekday) or 6 with seconds first");
  add_cmd->add_option("-i,--input", args->input, "Input state of every run: a JSON file, or - for stdin");
  add_cmd->add_option("--set", args->sets, "Set a value in the input: path=value (value is JSON, else a string)");
  add_cmd->add_option("--session", args->session, "Session of every run (default: each run its own)");
  add_cmd->add_option("--plugin", args->plugins, "Load a C++ plugin the flow's types come from; repeatable");
  remove_cmd->add_option("id", args->id, "Schedule id")->required();
  return [args, add_cmd, list_cmd](const GlobalOptions&) {
    if (add_cmd->parsed()) return add(*args);
    if (list_cmd->parsed()) return list(*args);
    return remove(*args);
  };
}

}  // namespace am2z::cli
