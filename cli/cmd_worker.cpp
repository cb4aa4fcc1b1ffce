// am2z worker [--redis URL] --flows DIR|FILE... [-c N]: serves the queues of those flows.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <optional>
#include <thread>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "cli/redis_support.hpp"
#include "cli/worker_watch.hpp"
#include "core/environment.hpp"
#include "core/redis/metrics_server.hpp"
#include "core/redis/worker.hpp"
#include "flows/loader.hpp"

namespace am2z::cli {

namespace {

namespace fs = std::filesystem;

struct WorkerArgs {
  RedisArgs redis;
  std::vector<std::string> flows;
  int concurrency = 8;
  int prefetch = -1;  ///< as many as -c, at least 16
  std::string prefetch_below = "2ms";
  std::string lock_duration = "30s";
  std::string stalled_interval = "30s";
  int max_stalled = 1;
  std::string grace = "30s";
  std::string name;
  bool remove_on_complete = false;
  bool remove_on_fail = false;
  std::string events = "final";
  std::string max_job_size = "16MiB";
  int max_call_depth = 10;
  bool max_call_depth_given = false;
  std::vector<std::string> plugins;
  bool watch = false;
  std::string version_wait = "60s";
  std::optional<std::string> metrics;
};

int run(const WorkerArgs& a) {
  constexpr const char* kExpected = "a positive duration such as 500ms or 30s";
  auto lock =
      parse_duration_flag(a.lock_duration, {.command = "worker", .flag = "--lock-duration", .expected = kExpected});
  auto stalled = parse_duration_flag(a.stalled_interval,
                                     {.command = "worker", .flag = "--stalled-interval", .expected = kExpected});
  auto grace = parse_duration_flag(a.grace, {.command = "worker", .flag = "--grace", .expected = kExpected});
  auto version_wait = parse_duration_flag(
      a.version_wait,
      {.command = "worker", .flag = "--version-wait", .expected = "a duration such as 60s", .allow_zero = true});
  auto prefetch_below =
      parse_duration_flag(a.prefetch_below, {.command = "worker", .flag = "--prefetch-below", .expected = kExpected});
  if (!lock || !stalled || !grace || !version_wait || !prefetch_below) return kExitUsage;
  auto max_job = parse_size_flag(a.max_job_size, "worker", "--max-job-size", 1024, "1KiB");
  if (!max_job) return kExitUsage;
  auto endpoint = resolve_endpoint(a.redis, "worker");
  if (!endpoint) return kExitUsage;
  std::optional<redis::ListenAddress> metrics_at;
  if (a.metrics) {
    auto where = redis::parse_listen_address(*a.metrics);
    if (!where) {
      std::fprintf(stderr, "am2z worker: %s\n", where.error().message.c_str());
      return kExitUsage;
    }
    metrics_at = *where;
  }

  bool ok = true;
  auto files = flow_files(a.flows, "worker: --flows", ok, false);
  std::sort(files.begin(), files.end());
  if (!ok) return kExitUsage;
  if (files.empty()) {
    std::fprintf(stderr, "am2z worker: no flow files (*.yaml, *.yml) found in %s\n", a.flows.front().c_str());
    return kExitInvalid;
  }
  // a private copy of each plugin, so a reload (--watch, SIGHUP) really loads the new file
  auto catalog = load_plugins(a.plugins, PluginLoadOptions{.private_copy = true});
  if (!catalog) return kExitInvalid;
  std::vector<std::shared_ptr<const redis::PlannedFlow>> flows;
  ServedFlows served;
  for (const auto& file : files) {
    if (is_flow_library(file)) {
      spdlog::debug("{}: no flow: key, a library for include: (skipped)", file);
      continue;
    }
    auto planned = plan_flow_file(file, *catalog, a.redis.prefix);
    if (!planned) return kExitInvalid;
    served[planned->flow().name] = planned;
    flows.push_back(std::move(planned));
  }

  redis::WorkerOptions options;
  options.endpoint = *endpoint;
  options.prefix = a.redis.prefix;
  options.concurrency = a.concurrency;
  options.prefetch = a.prefetch;
  options.prefetch_below = std::chrono::duration_cast<std::chrono::microseconds>(*prefetch_below);
  options.lock_duration = *lock;
  options.stalled_interval = *stalled;
  options.max_stalled = a.max_stalled;
  options.grace = *grace;
  options.version_wait = *version_wait;
  options.name = a.name;
  options.keep_completed = !a.remove_on_complete;
  options.keep_failed = !a.remove_on_fail;
  options.all_events = a.events == "all";
  options.max_job_bytes = *max_job;
  options.max_call_depth = a.max_call_depth;
  if (!a.max_call_depth_given) {
    if (auto env = env_max_call_depth(); env && *env) options.max_call_depth = **env;  // checked in main
  }
  std::unique_ptr<redis::MetricsServer> metrics_server;
  if (metrics_at) {
    auto metrics = std::make_shared<redis::WorkerMetrics>(
        options.name.empty() ? redis::default_worker_name() : options.name, options.concurrency, options.heartbeat_ttl);
    options.observers.push_back(metrics);
    auto server = redis::MetricsServer::start(*metrics_at, metrics);
    if (!server) {
      std::fprintf(stderr, "am2z worker: %s\n", server.error().message.c_str());
      return kExitUnreachable;
    }
    metrics_server = std::move(*server);
    spdlog::info("metrics on {}/metrics, health on /healthz", metrics_at->url(metrics_server->port()));
  }
  auto worker = redis::Worker::create(std::move(options), std::move(flows));
  if (!worker) {
    std::fprintf(stderr, "am2z worker: %s\n", worker.error().message.c_str());
    return kExitInvalid;
  }
  const CancelToken stop = install_interrupt_handler();
  // The watcher stops with the worker, whichever way it stops.
  const CancelSource watching(stop);
  // --watch follows the files as they change; SIGHUP reloads them at once, watched or not.
  std::thread watcher([&] {
    follow_flow_files(**worker, a.flows, *catalog, a.redis.prefix, std::move(served), watching.token(), a.watch);
  });
  Status served_ok = (*worker)->run(stop);
  watching.cancel("the worker stopped");
  if (watcher.joinable()) watcher.join();
  if (auto st = served_ok; !st) {
    std::fprintf(stderr, "am2z worker: cannot use Redis at %s: %s\n", endpoint->display().c_str(),
                 st.error().message.c_str());
    return kExitUnreachable;
  }
  return kExitSuccess;
}

}  // namespace

CommandHandler add_worker_command(CLI::App& app) {
  auto args = std::make_shared<WorkerArgs>();
  CLI::App* cmd = app.add_subcommand("worker", "Serve the queues of flow files: run their steps for any submitter");
  add_redis_options(cmd, args->redis,
                    "Redis URL: redis://[user:password@]host:port/db or unix:///path (default: REDIS_URL)");
  cmd->add_option("--flows", args->flows, "Flow files, or directories searched for *.yaml / *.yml")->required();
  cmd->add_option("-c,--concurrency", args->concurrency, "Steps run at the same time")->check(CLI::Range(1, 100000));
  cmd->add_option("--prefetch", args->prefetch,
                  "Step jobs held beyond -c, waiting for a slot, for queues of instant or short (under 2 ms) "
                  "steps and no named session's or priority job waiting: more jobs per Redis call "
                  "(default: as many as -c, at least 16; 0: none)")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--prefetch-below", args->prefetch_below,
                  "With --prefetch: a queue's steps count as short while they run under this on average "
                  "(default 2ms)");
  cmd->add_option("--lock-duration", args->lock_duration, "A job's lock; renewed while it runs (default 30s)");
  cmd->add_option("--stalled-interval", args->stalled_interval,
                  "How often jobs of dead workers are looked for (default 30s)");
  cmd->add_option("--max-stalled", args->max_stalled, "Recoveries of one job before it fails instead (default 1)")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  cmd->add_option("--grace", args->grace, "On SIGTERM, how long active steps may finish (default 30s)");
  cmd->add_option("--name", args->name, "Worker name shown in Redis (default host:pid)");
  cmd->add_option("--max-job-size", args->max_job_size,
                  "Largest job (data and options) a step may take; bigger ones fail unrun (default 16MiB)");
  cmd->add_option("--max-call-depth", args->max_call_depth,
                  "Limit on nested ctx.call depth inside a step (default AM2Z_MAX_CALL_DEPTH, else 10)")
      ->check(CLI::Range(1, 1000))
      ->each([args](const std::string&) { args->max_call_depth_given = true; });
  add_plugin_option(cmd, args->plugins);
  cmd->add_option("--version-wait", args->version_wait,
                  "A step built by another version of a served flow waits this long for a worker with that "
                  "version, then fails (default 60s; 0: fails at once)");
  cmd->add_option("--metrics", args->metrics,
                  "Serve Prometheus metrics at http://ADDR/metrics and health at /healthz; ADDR is HOST:PORT, "
                  ":PORT (every interface) or PORT (0: any free port, logged)");
  cmd->add_flag("--watch", args->watch,
                "Follow the --flows files and directories: serve new and changed flows, stop fetching removed ones");
  cmd->add_flag("--remove-on-complete", args->remove_on_complete, "Delete jobs when they complete");
  cmd->add_flag("--remove-on-fail", args->remove_on_fail, "Delete jobs when they fail");
  cmd->add_option("--queue-events", args->events,
                  "Events stream: final (completed, failed, retries; default) or all (also active, like BullMQ)")
      ->check(CLI::IsMember({"final", "all"}));
  return [args](const GlobalOptions&) { return run(*args); };
}

}  // namespace am2z::cli
