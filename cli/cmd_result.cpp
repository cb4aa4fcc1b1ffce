// am2z result RUN_ID [--wait] [--timeout DUR]: the outcome of a run submitted with --redis.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "cli/run_distributed.hpp"
#include "core/redis/distributed_run.hpp"

namespace am2z::cli {

namespace {

struct ResultArgs {
  RedisArgs redis;
  std::string run_id;
  bool wait = false;
  std::string timeout;
  bool compact = false;
};

int run(const ResultArgs& a) {
  std::optional<Millis> timeout;
  if (!a.timeout.empty()) {
    timeout =
        parse_duration_flag(a.timeout, {.command = "result", .flag = "--timeout", .expected = "a positive duration"});
    if (!timeout) return kExitUsage;
  }
  if (a.run_id.empty() || a.run_id.find(':') != std::string::npos) {
    std::fprintf(stderr, "am2z result: '%s' is not a run id\n", a.run_id.c_str());
    return kExitUsage;
  }
  auto endpoint = resolve_endpoint(a.redis, "result");
  if (!endpoint) return kExitUsage;
  auto conn = connect_or_report(*endpoint, "result");
  if (!conn) return kExitUnreachable;
  const redis::RunHandle run = redis::attach(redis::KeySpace(a.redis.prefix), a.run_id);
  if (!a.wait) {
    auto found = redis::outcome(*conn, run);
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
  redis::WaitOptions wait;
  wait.timeout = timeout;
  wait.cancel = install_interrupt_handler();
  wait.end_run_on_give_up = false;  // whoever submitted the run decides its end, not its readers
  auto outcome = redis::wait(*conn, run, wait);
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
