// am2z run FLOW [-i FILE|-] [--set path=value]... [--session ID] [--events FILE] [--timeout DUR]
//          [--plugin PATH]... [--watch] [--dry-run [--json]] [--redis URL [--detach] ...]
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/input.hpp"
#include "cli/interrupt.hpp"
#include "cli/progress_display.hpp"
#include "cli/run_dir.hpp"
#include "cli/run_distributed.hpp"
#include "core/environment.hpp"
#include "core/policy.hpp"
#include "core/runner.hpp"
#include "flows/execution_plan.hpp"
#include "flows/input_contract.hpp"
#include "flows/loader.hpp"
#include "plugins/file_watcher.hpp"
#include "plugins/subprocess.hpp"

namespace am2z::cli {

namespace {

struct RunArgs {
  std::string flow;
  std::string input;
  std::vector<std::string> sets;
  std::string session;
  std::string events;
  std::string timeout;
  bool timeout_given = false;
  int max_call_depth = 10;
  bool max_call_depth_given = false;
  bool compact = false;
  std::vector<std::string> plugins;
  bool watch = false;
  bool dry_run = false;
  bool json = false;
  DistributedRunArgs distributed;
  bool use_redis = false;
  std::string queue_events = "final";
  std::string resume;  ///< --resume RUN_ID
  std::string run_dir;  ///< --run-dir DIR: local runs keep what resuming them needs there
  std::string run_dir_keep = "7d";
};

/// How long files must stay quiet before --watch reloads: builds and editors write in steps.
constexpr Millis kWatchSettle{150};

/// Longest wait at exit for cancelled subprocesses; each exec step escalates to SIGKILL after its
/// own kill_grace (2s by default), so this only bounds a pathological kill_grace.
constexpr Millis kMaxExitGrace{10'000};

/// Waits until no subprocess is alive, or `cap` passed.
void wait_for_subprocesses(Millis cap) {
  const auto until = SteadyClock::now() + cap;
  while (live_subprocess_count() > 0 && SteadyClock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "am2z run: %s\n", message.c_str());
  return kExitUsage;
}

int invalid_input(const Error& e) {
  print_error(e);
  return kExitInvalid;
}

/// --dry-run: the execution plan instead of a run.
int print_plan(const Flow& flow, bool json) {
  const Json plan = execution_plan(flow);
  if (json) {
    print_json(plan, false);
  } else {
    const std::string text = execution_plan_text(plan);
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return kExitSuccess;
}

/// The input document: -i and --set applied; read once, also for every --watch re-run.
Result<Json> read_input(const RunArgs& a) { return read_input_document(a.input, a.sets); }

/// --run-dir: the run's directory, its input taken from the run it resumes (--resume) unless
/// given. The exit code when it cannot be had.
std::expected<RunDir, int> open_local_run(const RunArgs& a, const Flow& flow, State& state) {
  auto keep = parse_duration_flag(a.run_dir_keep, {.command = "run", .flag = "--run-dir-keep",
                                                   .expected = "a duration such as 7d", .allow_zero = false});
  if (!keep) return std::unexpected(kExitUsage);
  std::optional<ResumeSource> resumed;
  if (!a.resume.empty()) {
    auto source = read_resumable(a.run_dir, a.resume, flow.name);
    if (!source) {
      std::fprintf(stderr, "am2z run: --resume %s: %s\n", a.resume.c_str(), source.error().message.c_str());
      return std::unexpected(source.error().code == kRunNotEnded ? kExitPending : kExitUsage);
    }
    if (a.input.empty() && a.sets.empty()) {
      auto recorded = State::from_json(source->input, a.session);
      if (!recorded) {
        print_error(recorded.error());
        return std::unexpected(kExitInvalid);
      }
      if (a.session.empty()) recorded->meta.session_id = source->session;
      state = std::move(*recorded);
    } else if (a.session.empty() && state.meta.session_id.empty()) {
      state.meta.session_id = source->session;
    }
    resumed = std::move(*source);
  }
  auto dir = open_run_dir(a.run_dir, flow, state, *keep, std::move(resumed));
  if (!dir) {
    std::fprintf(stderr, "am2z run: %s\n", dir.error().message.c_str());
    return std::unexpected(kExitUsage);
  }
  return std::move(*dir);
}

/// --run-dir: records the outcome; says what a resume reused, and how to resume a failed run.
void close_local_run(const RunArgs& a, const RunDir& dir, RunOutcome& outcome) {
  write_outcome(dir, outcome);
  if (!a.resume.empty()) {
    std::string list;
    long long total = 0;
    for (const auto& [path, count] : dir.journal->reused()) {
      list += (list.empty() ? "" : ", ") + path + (count > 1 ? " x" + std::to_string(count) : "");
      total += count;
    }
    spdlog::info("run {} resumed run {}: {} step result(s) reused{}{}", dir.run_id, a.resume, total,
                 list.empty() ? "" : ": ", list);
  }
  if (outcome.error) {
    outcome.error->context["runId"] = dir.run_id;
    spdlog::info("run {} is kept in {}; resume it with: am2z run {} --run-dir {} --resume {}", dir.run_id, dir.path,
                 a.flow, a.run_dir, dir.run_id);
  }
}

/// Loads the flow (with its plugins) and runs it once; `flow_plugins` gets its plugins: paths.
int run_once(const RunArgs& a, PluginCatalog& catalog, const Result<Json>& input, std::optional<Millis> timeout,
             const CancelToken& interrupt, std::vector<std::string>& flow_plugins) {
  const ProcessorRegistry registry = catalog.registry();
  LoadResult loaded = load_flow_file(a.flow, registry, flow_plugin_hook(catalog));
  flow_plugins = loaded.plugins;
  if (!loaded.ok()) {
    print_diagnostics(loaded.diagnostics);
    return kExitInvalid;
  }
  if (!input) return invalid_input(input.error());
  auto state = State::from_json(*input, a.session);
  if (!state) return invalid_input(state.error());
  // The input contract holds before anything runs, dry or not.
  if (auto st = check_input(*loaded.flow, state->data); !st) return invalid_input(st.error());
  if (a.dry_run) return print_plan(*loaded.flow, a.json);

  std::shared_ptr<EventSink> events;
  if (a.events == "-") {
    events = std::make_shared<JsonLinesSink>(stderr);
  } else if (!a.events.empty()) {
    std::FILE* file = std::fopen(a.events.c_str(), "w");
    if (file == nullptr) return usage_error("--events: cannot open '" + a.events + "': " + std::strerror(errno));
    events = std::make_shared<JsonLinesSink>(file, /*owned=*/true);
  }

  if (a.use_redis) {
    if (a.max_call_depth_given) {
      return usage_error("--max-call-depth applies to local runs; with --redis the workers decide: am2z worker "
                         "--max-call-depth N");
    }
    DistributedRunArgs d = a.distributed;
    d.flow_file = a.flow;
    d.session = a.session;
    d.timeout = timeout;
    d.compact = a.compact;
    d.all_events = a.queue_events == "all";
    d.events = std::move(events);
    d.resume = a.resume;
    d.input_given = !a.input.empty() || !a.sets.empty();
    d.progress = a.events != "-";
    return run_distributed(d, loaded, std::move(*state));
  }

  if (a.distributed.priority > 0 || !a.distributed.delay.empty()) {
    return usage_error("--priority and --delay order and defer the run's queued jobs: they need --redis (a step's "
                       "own delay: applies in-process too)");
  }
  if (!a.resume.empty() && a.run_dir.empty()) {
    return usage_error("--resume of a local run needs --run-dir DIR, where the run was kept (or --redis, for a "
                       "distributed run)");
  }
  std::optional<RunDir> dir;
  if (!a.run_dir.empty()) {
    auto opened = open_local_run(a, *loaded.flow, *state);
    if (!opened) return opened.error();
    dir = std::move(*opened);
  }
  RunOptions options;
  if (dir) {
    options.run_id = dir->run_id;
    options.journal = dir->journal;
  }
  options.events = std::move(events);
  options.timeout = timeout;
  options.cancel = interrupt;
  options.max_call_depth = a.max_call_depth;
  if (!a.max_call_depth_given) {
    if (auto env = env_max_call_depth(); env && *env) options.max_call_depth = **env;  // checked in main
  }
  // A progress line, unless the events are written to stderr (they would run through it).
  std::unique_ptr<ProgressDisplay> display;
  if (a.events != "-") {
    auto progress = std::make_shared<RunProgress>();
    display = ProgressDisplay::start(progress);
    if (display) options.progress = std::move(progress);  // counted only when shown
  }
  RunOutcome outcome = run_flow(loaded.flow, std::move(*state), options);
  display.reset();
  // A subprocess still alive now belongs to a step the run abandoned (a timeout, Ctrl-C, or a
  // cancelled batch item). Its token has fired, so it already got SIGTERM: give it its kill grace
  // to finish, then make sure nothing outlives us.
  wait_for_subprocesses(kMaxExitGrace);
  if (!a.watch || interrupt.cancelled()) kill_all_subprocesses();
  if (dir) close_local_run(a, *dir, outcome);

  if (outcome.ok()) {
    print_json(outcome.state.to_json(), a.compact);
    std::fflush(stdout);
    return kExitSuccess;
  }
  print_error(*outcome.error);
  return exit_code_for(*outcome.error);
}

/// --watch: runs, then re-runs whenever the flow file, a plugin file or a plugin directory
/// changes, reloading changed plugins; Ctrl-C ends it with 130.
int watch_loop(const RunArgs& a, PluginCatalog& catalog, const Result<Json>& input, std::optional<Millis> timeout,
               const CancelToken& interrupt) {
  // One watcher for the whole session: a change made while a run or a reload is under way is
  // queued and seen by the next wait instead of being lost.
  FileWatcher watcher;
  if (!watcher.ok()) return usage_error("--watch: " + watcher.error());
  for (;;) {
    watcher.watch_file(a.flow);
    for (const auto& dir : catalog.directories()) watcher.watch_directory(dir);
    for (const auto& file : catalog.files()) watcher.watch_file(file);
    std::vector<std::string> flow_plugins;
    const int code = run_once(a, catalog, input, timeout, interrupt, flow_plugins);
    if (interrupt.cancelled()) return kExitInterrupted;
    for (const auto& file : flow_plugins) watcher.watch_file(file);
    spdlog::info(
        "run finished with exit code {}; watching {}, {} plugin file(s) and {} plugin directory(ies) for "
        "changes (Ctrl-C to stop)",
        code, a.flow, catalog.files().size(), catalog.directories().size());
    const auto changed = watcher.wait(interrupt, kWatchSettle);
    if (changed.empty()) return kExitInterrupted;
    for (const auto& path : changed) spdlog::info("changed: {}", path);
    for (const auto& change : catalog.refresh()) {
      if (change.kind == PluginChange::Kind::failed) {
        spdlog::error("{}", change.describe());
      } else {
        spdlog::info("{}", change.describe());
      }
    }
    spdlog::info("re-running {}", a.flow);
  }
}

int run(const RunArgs& a) {
  std::optional<Millis> timeout;
  if (a.timeout_given) {
    timeout = parse_duration_flag(a.timeout, {.command = "run", .flag = "--timeout"});
    if (!timeout) return kExitUsage;
  }
  // Under --watch a plugin is loaded from a private copy, so a rebuilt file is really reloaded.
  auto catalog = load_plugins(a.plugins, PluginLoadOptions{.private_copy = a.watch});
  if (!catalog) return kExitInvalid;
  const Result<Json> input = read_input(a);  // its errors are reported after the flow's
  warn_if_stdin_ignored(a.input);
  const CancelToken interrupt = install_interrupt_handler();
  if (a.watch) return watch_loop(a, *catalog, input, timeout, interrupt);
  std::vector<std::string> flow_plugins;
  return run_once(a, *catalog, input, timeout, interrupt, flow_plugins);
}

}  // namespace

CommandHandler add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run a flow in this process and print its final state as JSON");
  cmd->add_option("flow", args->flow, "Flow file (YAML)")->required();
  cmd->add_option("-i,--input", args->input, "Input state: a JSON file, or - for stdin (default: {})");
  cmd->add_option("--set", args->sets, "Set a value in the input: path=value (value is JSON, else a string)");
  cmd->add_option("--session", args->session,
                  "Session id (default: AM2Z_SESSION, else the input's metadata.sessionId, else generated)")
      ->envname("AM2Z_SESSION");
  cmd->add_option("--events", args->events, "Write events as JSON lines to FILE (- for stderr)");
  cmd->add_option("--timeout", args->timeout, "Cancel the run after this long, e.g. 30s (exit code 124)")
      ->each([args](const std::string&) { args->timeout_given = true; });
  cmd->add_option("--max-call-depth", args->max_call_depth,
                  "Limit on nested ctx.call depth (local runs; default AM2Z_MAX_CALL_DEPTH, else 10)")
      ->check(CLI::Range(1, std::numeric_limits<int>::max()))
      ->each([args](const std::string&) { args->max_call_depth_given = true; });
  cmd->add_flag("-c,--compact", args->compact, "Print the final state on one line");
  add_plugin_option(cmd, args->plugins);
  cmd->add_flag("--watch", args->watch,
                "After the run, re-run whenever the flow file or a plugin changes (reloading plugins); Ctrl-C exits");
  cmd->add_flag("--dry-run", args->dry_run, "Check the flow and input, print the execution plan, run nothing");
  cmd->add_flag("--json", args->json, "With --dry-run: print the plan as JSON");
  cmd->add_option("--redis", args->distributed.redis.url,
                  "Run on the workers serving this Redis: redis://[user:password@]host:port/db or unix:///path")
      ->each([args](const std::string&) { args->use_redis = true; });
  cmd->add_flag("--distributed", args->use_redis, "Run on workers, with Redis from REDIS_URL or REDIS_HOST/PORT");
  cmd->add_option("--prefix", args->distributed.redis.prefix, "With --redis: key prefix of the queues (default bull)");
  cmd->add_flag("--detach", args->distributed.detach, "With --redis: print the run id and exit; see am2z result");
  cmd->add_option("--queue-events", args->queue_events,
                  "With --redis: final (default) or all: also added/waiting events, like BullMQ")
      ->check(CLI::IsMember({"final", "all"}));
  cmd->add_flag("--require-worker", args->distributed.require_worker,
                "With --redis: exit 6 when no live worker serves the flow's queues (default: warn and wait)");
  cmd->add_option("--result-ttl", args->distributed.result_ttl,
                  "With --redis: how long the outcome stays readable by am2z result (default 24h)");
  cmd->add_flag("--publish-events", args->distributed.publish_events,
                "With --redis: workers publish the run's events to Redis for am2z events (implied by --events)");
  cmd->add_option("--session-ttl", args->distributed.session_ttl,
                  "With --redis: how long an idle session's index stays (default 24h; 0: forever)");
  cmd->add_option("--priority", args->distributed.priority,
                  "With --redis: the run's steps wait behind those of a lower number (1 first, as BullMQ; a step's "
                  "own priority: wins)")
      ->check(CLI::Range(1LL, kMaxPriority));
  cmd->add_option("--delay", args->distributed.delay, "With --redis: the run starts no sooner than this, e.g. 10m");
  cmd->add_option("--resume", args->resume,
                  "Run again from where run RUN_ID failed or was cancelled, reusing its completed steps' results "
                  "(its input and session unless given); local runs need --run-dir");
  cmd->add_option("--run-dir", args->run_dir,
                  "Local runs: keep each run's input, finished steps and outcome under DIR/<run id>, for --resume")
      ->envname("AM2Z_RUN_DIR");
  cmd->add_option("--run-dir-keep", args->run_dir_keep,
                  "With --run-dir: remove kept runs not written to for this long (default 7d)");
  cmd->add_option("--max-job-size", args->distributed.max_job_size,
                  "With --redis: refuse an input bigger than the workers take (default 16MiB, as am2z worker)");
  return [args](const GlobalOptions&) { return run(*args); };
}

}  // namespace am2z::cli
