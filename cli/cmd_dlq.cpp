// am2z dlq list|show|retry|purge: the steps that failed for good, across every queue of a Redis,
// with their runs. A retry resumes the step's run (run --resume): a new run that reuses what the
// old one completed, so each run keeps exactly one outcome.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/redis_support.hpp"
#include "core/json_limits.hpp"
#include "core/redis/dead_letters.hpp"
#include "core/redis/distributed_run.hpp"
#include "core/redis/run_record.hpp"
#include "flows/loader.hpp"

namespace am2z::cli {

namespace {

struct DlqArgs {
  RedisArgs redis;
  std::vector<std::string> jobs;
  redis::DeadLetterFilter filter;
  bool all = false;
  std::string older_than;
  std::vector<std::string> flows;
  std::vector<std::string> plugins;
  bool json = false;
  std::size_t list_limit = 100;
};

std::string when(long long ms) {
  return ms > 0 ? format_timestamp(SystemClock::time_point(std::chrono::milliseconds(ms))) : "-";
}

std::string clip(std::string s, std::size_t n) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.size() > n) s = s.substr(0, n - 3) + "...";
  return s;
}

redis::KeySpace keys_of(const DlqArgs& a) { return redis::KeySpace(a.redis.prefix); }

int list(const DlqArgs& a) {
  auto conn = connect_for(a.redis, "dlq list");
  if (!conn) return kExitUnreachable;
  redis::DeadLetterFilter filter = a.filter;
  filter.limit = a.list_limit;
  auto steps = redis::list_dead_steps(*conn, keys_of(a), filter);
  if (!steps) return redis_failed("dlq list", steps.error());
  if (a.json) {
    Json out = Json::array();
    for (const auto& s : *steps) out.push_back(s.to_json());
    print_json(Json{{"dead", std::move(out)}}, true);
    return kExitSuccess;
  }
  std::printf("%-44s %-18s %-20s %-24s %4s %-24s %s\n", "JOB", "RUN", "SESSION", "STEP", "TRY", "FAILED (UTC)",
              "REASON");
  for (const auto& s : *steps) {
    const std::string step = s.step + (s.scope.empty() ? "" : "[" + s.scope + "]");
    std::printf("%-44s %-18s %-20s %-24s %4lld %-24s %s%s\n", s.name().c_str(), s.run.c_str(), s.session.c_str(),
                step.c_str(), s.attempts, when(s.failed_at_ms).c_str(), clip(s.reason, 60).c_str(),
                s.retried_by.empty() ? "" : (" (retried by " + s.retried_by + ")").c_str());
  }
  return kExitSuccess;
}

int show(const DlqArgs& a) {
  auto conn = connect_for(a.redis, "dlq show");
  if (!conn) return kExitUnreachable;
  const redis::KeySpace keys = keys_of(a);
  std::string data;
  auto found = redis::find_dead_step(*conn, keys, a.jobs.front(), &data);
  if (!found) return redis_failed("dlq show", found.error());
  if (!*found) {
    std::fprintf(stderr, "am2z dlq show: no dead step '%s' (name it as dlq list does: <queue>:<job id>)\n",
                 a.jobs.front().c_str());
    return kExitFailure;
  }
  const redis::DeadStep& s = **found;
  auto ended = redis::outcome(*conn, redis::attach(keys, s.run));
  if (!ended) return redis_failed("dlq show", ended.error());
  const std::string run_state = !*ended ? "running (or its outcome expired)" : (*ended)->ok() ? "succeeded" : "failed";
  Json input = parse_outside_json(data).value_or(Json(data));
  if (a.json) {
    Json j = s.to_json();
    j["input"] = std::move(input);
    j["runState"] = run_state;
    print_json(j, true);
    return kExitSuccess;
  }
  std::printf("job:        %s\nrun:        %s (%s)\nflow:       %s, node %s%s\nstep:       %s\nsession:    %s\n"
              "attempts:   %lld\nfailed at:  %s\nreason:     %s\n",
              s.name().c_str(), s.run.c_str(), run_state.c_str(), s.flow.c_str(), s.node.c_str(),
              s.scope.empty() ? "" : (", item " + s.scope).c_str(), s.step.c_str(), s.session.c_str(), s.attempts,
              when(s.failed_at_ms).c_str(), s.reason.c_str());
  if (!s.retried_by.empty()) std::printf("retried by: run %s\n", s.retried_by.c_str());
  if (s.error.is_object()) std::printf("error:      %s\n", dump_text(s.error).c_str());
  std::printf("input:      %s\n", dump_text(input).c_str());
  return kExitSuccess;
}

/// The dead steps a retry or purge acts on: the ones named, else every one the filter passes.
/// Names nobody has go to `unknown`.
Result<std::vector<redis::DeadStep>> selected(redis::Connection& c, const DlqArgs& a, std::vector<std::string>& unknown) {
  if (a.jobs.empty()) return redis::list_dead_steps(c, keys_of(a), a.filter);
  std::vector<redis::DeadStep> out;
  for (const auto& name : a.jobs) {
    auto found = redis::find_dead_step(c, keys_of(a), name);
    if (!found) return fail(std::move(found.error()));
    if (*found) {
      out.push_back(std::move(**found));
    } else {
      unknown.push_back(name);
    }
  }
  return out;
}

/// The flows of --flows by name, loaded and planned as the workers do.
std::optional<std::map<std::string, std::shared_ptr<const redis::PlannedFlow>>> load_flows(const DlqArgs& a) {
  bool ok = true;
  auto files = flow_files(a.flows, "dlq retry: --flows", ok, false);
  if (!ok) return std::nullopt;
  auto catalog = load_plugins(a.plugins);
  if (!catalog) return std::nullopt;
  std::map<std::string, std::shared_ptr<const redis::PlannedFlow>> out;
  for (const auto& file : files) {
    if (is_flow_library(file)) continue;
    auto planned = plan_flow_file(file, *catalog, a.redis.prefix);
    if (!planned) return std::nullopt;
    out[planned->flow().name] = planned;
  }
  return out;
}

int retry(const DlqArgs& a) {
  if (a.jobs.empty() && !a.all) {
    std::fprintf(stderr, "am2z dlq retry: name the dead steps to retry (JOB...), or give --all\n");
    return kExitUsage;
  }
  auto flows = load_flows(a);
  if (!flows) return kExitInvalid;
  auto conn = connect_for(a.redis, "dlq retry");
  if (!conn) return kExitUnreachable;
  const redis::KeySpace keys = keys_of(a);
  std::vector<std::string> unknown;
  auto steps = selected(*conn, a, unknown);
  if (!steps) return redis_failed("dlq retry", steps.error());
  // one resume per run, however many of its steps are dead
  std::map<std::string, std::vector<const redis::DeadStep*>> by_run;
  for (const auto& s : *steps) by_run[s.run].push_back(&s);
  Json retried = Json::array();
  Json skipped = Json::array();
  for (const auto& name : unknown) skipped.push_back(Json{{"job", name}, {"reason", "no such dead step"}});
  auto skip = [&](const std::vector<const redis::DeadStep*>& of, const std::string& why) {
    for (const auto* s : of) skipped.push_back(Json{{"job", s->name()}, {"run", s->run}, {"reason", why}});
  };
  for (const auto& [run, dead] : by_run) {
    if (!dead.front()->retried_by.empty()) {
      skip(dead, "already retried by run " + dead.front()->retried_by);
      continue;
    }
    auto record = redis::read_run_record(*conn, keys, run);
    if (!record && record.error().category != ErrorCategory::validation) {
      return redis_failed("dlq retry", record.error());
    }
    if (!record) {  // a hash that is not a record: this run cannot be resumed, the others can
      skip(dead, record.error().message);
      continue;
    }
    if (!*record) {
      skip(dead, "the run has no record to resume from (not submitted by am2z run --redis, or expired)");
      continue;
    }
    auto ended = redis::outcome(*conn, redis::attach(keys, run));
    if (!ended) return redis_failed("dlq retry", ended.error());
    if (!*ended) {
      skip(dead, "the run has not ended: it is still running");
      continue;
    }
    auto flow = flows->find((*record)->flow);
    if (flow == flows->end()) {
      skip(dead, "flow '" + (*record)->flow + "' is not among --flows");
      continue;
    }
    auto input = redis::resume_input(**record, keys);
    if (!input) {
      skip(dead, "the run's recorded input cannot be read: " + input.error().message);
      continue;
    }
    redis::DistributedRunOptions options;
    options.resume_of = run;
    auto submitted = redis::submit(*conn, *flow->second, std::move(*input), options);
    if (!submitted) return redis_failed("dlq retry", submitted.error());
    // every dead step of the run is retried by it, not only the ones named
    redis::DeadLetterFilter of_run;
    of_run.run = run;
    auto all_dead = redis::list_dead_steps(*conn, keys, of_run);
    if (!all_dead) return redis_failed("dlq retry", all_dead.error());
    Json jobs = Json::array();
    for (const auto& s : *all_dead) {
      if (auto st = redis::mark_retried(*conn, keys, s, submitted->run_id); !st) {
        return redis_failed("dlq retry", st.error());
      }
      jobs.push_back(s.name());
    }
    retried.push_back(
        Json{{"run", run}, {"resumedAs", submitted->run_id}, {"session", submitted->session}, {"jobs", jobs}});
  }
  if (a.json) {
    print_json(Json{{"retried", retried}, {"skipped", skipped}}, true);
  } else {
    for (const auto& r : retried) {
      std::printf("run %s resumed as run %s (%zu dead step(s))\n", r["run"].get<std::string>().c_str(),
                  r["resumedAs"].get<std::string>().c_str(), r["jobs"].size());
    }
    for (const auto& s : skipped) {
      std::printf("skipped %s: %s\n", s["job"].get<std::string>().c_str(), s["reason"].get<std::string>().c_str());
    }
  }
  // what was named must have been retried; --all reports what it skipped and succeeds
  return !a.jobs.empty() && !skipped.empty() ? kExitFailure : kExitSuccess;
}

int purge(const DlqArgs& a) {
  DlqArgs args = a;
  if (!a.older_than.empty()) {
    auto age = parse_duration_flag(a.older_than, {.command = "dlq purge", .flag = "--older-than",
                                                  .expected = "a duration such as 7d", .allow_zero = true});
    if (!age) return kExitUsage;
    args.filter.failed_before_ms =
        std::chrono::duration_cast<Millis>(SystemClock::now().time_since_epoch()).count() - age->count();
  }
  args.filter.retried = true;  // a retried dead step is purged like any other
  auto conn = connect_for(a.redis, "dlq purge");
  if (!conn) return kExitUnreachable;
  std::vector<std::string> unknown;
  auto steps = selected(*conn, args, unknown);
  if (!steps) return redis_failed("dlq purge", steps.error());
  Json purged = Json::array();
  for (const auto& s : *steps) {
    auto gone = redis::purge_dead_step(*conn, keys_of(a), s);
    if (!gone) return redis_failed("dlq purge", gone.error());
    if (*gone) purged.push_back(s.name());
  }
  if (a.json) {
    print_json(Json{{"purged", purged}, {"unknown", unknown}}, true);
  } else {
    std::printf("purged %zu dead step(s)\n", purged.size());
    for (const auto& name : unknown) std::printf("no dead step %s\n", name.c_str());
  }
  return unknown.empty() ? kExitSuccess : kExitFailure;
}

}  // namespace

CommandHandler add_dlq_command(CLI::App& app) {
  auto args = std::make_shared<DlqArgs>();
  CLI::App* cmd = app.add_subcommand("dlq", "Dead letters: steps that failed for good, and their runs");
  cmd->require_subcommand(1);
  CLI::App* list_cmd = cmd->add_subcommand("list", "Dead steps, newest first (retried ones with --retried)");
  CLI::App* show_cmd = cmd->add_subcommand("show", "One dead step: its error, input and run");
  CLI::App* retry_cmd = cmd->add_subcommand("retry", "Resume the runs of dead steps (am2z run --resume)");
  CLI::App* purge_cmd = cmd->add_subcommand("purge", "Delete dead steps from Redis");
  for (CLI::App* sub : {list_cmd, show_cmd, retry_cmd, purge_cmd}) {
    add_redis_options(sub, args->redis, "Redis URL (default: REDIS_URL)");
    sub->add_flag("--json", args->json, "Print JSON");
  }
  for (CLI::App* sub : {list_cmd, retry_cmd, purge_cmd}) {
    sub->add_option("--session", args->filter.session, "Only this session's dead steps");
    sub->add_option("--flow", args->filter.flow, "Only this flow's dead steps (its name)");
    sub->add_option("--run", args->filter.run, "Only this run's dead steps");
  }
  list_cmd->add_flag("--retried", args->filter.retried, "Also the dead steps already retried");
  list_cmd->add_option("--limit", args->list_limit, "At most this many (default 100; 0: all)");
  show_cmd->add_option("job", args->jobs, "The dead step: <queue>:<job id> as dlq list prints it, or the job id")
      ->required()
      ->expected(1);
  retry_cmd->add_option("jobs", args->jobs, "Dead steps to retry (<queue>:<job id>)");
  retry_cmd->add_flag("--all", args->all, "Retry every dead step (that --session, --flow, --run select)");
  retry_cmd->add_option("--flows", args->flows, "The flow files (or directories) the workers serve")->required();
  retry_cmd->add_option("--plugin", args->plugins, "Load a C++ plugin the flows' types come from; repeatable");
  purge_cmd->add_option("jobs", args->jobs, "Dead steps to delete (default: every one the filters select)");
  purge_cmd->add_option("--older-than", args->older_than, "Only those that failed longer ago than this, e.g. 7d");
  return [args, list_cmd, show_cmd, retry_cmd](const GlobalOptions&) {
    if (list_cmd->parsed()) return list(*args);
    if (show_cmd->parsed()) return show(*args);
    if (retry_cmd->parsed()) return retry(*args);
    return purge(*args);
  };
}

}  // namespace am2z::cli
