// am2z result RUN_ID [--wait] [--timeout DUR]: the outcome of a run submitted with --redis.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "cli/run_distributed.hpp"
#include "core/redis/submitter.hpp"
#include "core/units.hpp"

namespace am2z::cli {

namespace {

struct ResultArgs {
  RedisArgs redis;
  std::string run_id;
  bool wait = false;
  std::string timeout;
  bool compact = false;
};

/// Exit code when the run has not finished (and we were not asked to wait).
constexpr int kExitPending = 5;

int run(const ResultArgs& a) {
  std::optional<Millis> timeout;
  if (!a.timeout.empty()) {
    auto d = parse_duration(a.timeout);
    if (!d || d->count() <= 0) {
      std::fprintf(stderr, "am2z result: --timeout: '%s' is not a positive duration\n", a.timeout.c_str());
      return kExitUsage;
    }
    timeout = *d;
  }
  if (a.run_id.empty() || a.run_id.find(':') != std::string::npos) {
    std::fprintf(stderr, "am2z result: '%s' is not a run id\n", a.run_id.c_str());
    return kExitUsage;
  }
  auto endpoint = resolve_endpoint(a.redis, "result");
  if (!endpoint) return kExitUsage;
  auto conn = connect_or_report(*endpoint, "result");
  if (!conn) return kExitUnreachable;
  const std::string key = redis::KeySpace(a.redis.prefix).run_result(a.run_id);
  if (!a.wait) {
    auto found = redis::read_outcome(*conn, key);
    if (!found) {
      std::fprintf(stderr, "am2z result: %s\n", found.error().message.c_str());
      return kExitUnreachable;
    }
    if (!*found) {
      std::fprintf(stderr,
                   "am2z result: run %s has no result (yet): it is still running, its result expired, or no such "
                   "run was submitted to %s\n",
                   a.run_id.c_str(), endpoint->display().c_str());
      return kExitPending;
    }
    return print_outcome(**found, a.compact);
  }
  std::optional<Deadline> deadline;
  if (timeout) deadline = SteadyClock::now() + *timeout;
  auto outcome = redis::wait_outcome(*conn, key, deadline, install_interrupt_handler());
  if (outcome) return print_outcome(*outcome, a.compact);
  const Error& e = outcome.error();
  if (e.category == ErrorCategory::timeout) {
    std::fprintf(stderr, "am2z result: run %s did not finish within %s\n", a.run_id.c_str(), a.timeout.c_str());
    return kExitTimeout;
  }
  if (e.category == ErrorCategory::cancelled) return kExitInterrupted;
  std::fprintf(stderr, "am2z result: %s\n", e.message.c_str());
  return kExitUnreachable;
}

}  // namespace

CommandHandler add_result_command(CLI::App& app) {
  auto args = std::make_shared<ResultArgs>();
  CLI::App* cmd = app.add_subcommand("result", "Print the outcome of a run submitted with run --redis");
  cmd->add_option("run", args->run_id, "Run id printed by am2z run --redis --detach")->required();
  add_redis_options(cmd, args->redis, "Redis URL (default: REDIS_URL)");
  cmd->add_flag("-w,--wait", args->wait, "Wait until the run has finished");
  cmd->add_option("--timeout", args->timeout, "With --wait: give up after this long (exit code 124)");
  cmd->add_flag("-c,--compact", args->compact, "Print the final state on one line");
  return [args](const GlobalOptions&) { return run(*args); };
}

}  // namespace am2z::cli
