#include "cli/run_distributed.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/cli_support.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "core/redis/distributed_run.hpp"
#include "core/redis/event_follower.hpp"
#include "core/redis/event_stream.hpp"
#include "core/redis/live_workers.hpp"

namespace am2z::cli {

int print_outcome(const redis::DistributedOutcome& outcome, bool compact) {
  if (outcome.ok()) {
    print_json(outcome.state, compact);
    return kExitSuccess;
  }
  print_error(*outcome.error);
  return exit_code_for(*outcome.error);
}

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

/// A run into queues no live worker serves would wait in silence: say so at once (or refuse it
/// with --require-worker). False only when refusing.
bool served_enough(redis::Connection& c, const redis::PlannedFlow& flow, const redis::Endpoint& endpoint,
                   bool require_worker) {
  auto workers = redis::live_workers(c, flow.keys());
  if (!workers) {  // cannot tell: the submission itself will say what is wrong with Redis
    spdlog::debug("could not list the live workers: {}", workers.error().message);
    return true;
  }
  const auto missing = redis::unserved(redis::queues_of(flow), *workers);
  if (missing.empty()) return true;
  const std::string what = "no live worker on " + endpoint.display() + " (prefix '" + flow.keys().prefix() +
                           "') serves queue(s) " + joined(missing) + " of flow '" + flow.flow().name + "'";
  if (require_worker) {
    std::fprintf(stderr, "am2z run: %s; start one with: am2z worker --flows %s\n", what.c_str(),
                 flow.flow().source.c_str());
    return false;
  }
  spdlog::warn("{}: the run waits until one starts (am2z worker --flows {}; --require-worker exits {} instead)", what,
               flow.flow().source, kExitNoWorker);
  return true;
}

}  // namespace

int run_distributed(const DistributedRunArgs& a, const LoadResult& loaded, State input) {
  auto ttl = parse_duration_flag(
      a.result_ttl,
      {.command = "run", .flag = "--result-ttl", .expected = "a duration such as 1h", .allow_zero = true});
  if (!ttl) return kExitUsage;
  auto session_ttl = parse_duration_flag(
      a.session_ttl,
      {.command = "run", .flag = "--session-ttl", .expected = "a duration such as 24h", .allow_zero = true});
  if (!session_ttl) return kExitUsage;
  std::optional<Millis> delay = Millis(0);
  if (!a.delay.empty()) {
    delay = parse_duration_flag(
        a.delay, {.command = "run", .flag = "--delay", .expected = "a duration such as 30s", .allow_zero = true});
    if (!delay) return kExitUsage;
  }
  auto max_job = parse_size_flag(a.max_job_size, "run", "--max-job-size");
  if (!max_job) return kExitUsage;
  // Before connecting: an input no worker would take is refused whether or not Redis is up.
  if (auto st = redis::check_input_size(input, *max_job); !st) {
    print_error(st.error());
    return kExitInvalid;
  }
  auto endpoint = resolve_endpoint(a.redis, "run");
  if (!endpoint) return kExitUsage;
  auto flow = plan_loaded_flow(a.flow_file, loaded, a.redis.prefix);
  auto conn = connect_or_report(*endpoint, "run");
  if (!conn) return kExitUnreachable;

  if (!served_enough(*conn, *flow, *endpoint, a.require_worker)) return kExitNoWorker;

  // Before submitting: the follower must not miss the run's first events.
  std::string events_after = "0-0";
  if (a.events) {
    auto newest = redis::newest_event_id(*conn, flow->keys());
    if (!newest) {
      std::fprintf(stderr, "am2z run: cannot read the events stream on %s: %s\n", endpoint->display().c_str(),
                   newest.error().message.c_str());
      return kExitUnreachable;
    }
    events_after = *newest;
  }
  const CancelToken cancel = install_interrupt_handler();
  redis::DistributedRunOptions options;
  options.events = a.publish_events || a.events != nullptr;
  options.session = a.session;
  options.result_ttl = *ttl;
  options.session_ttl = *session_ttl;
  options.priority = a.priority;
  options.delay = *delay;
  options.all_events = a.all_events;  // max_input_bytes stays 0: the size was checked above
  auto run = redis::submit(*conn, *flow, std::move(input), options);
  if (!run) {
    std::fprintf(stderr, "am2z run: could not submit the run to %s: %s\n", endpoint->display().c_str(),
                 run.error().message.c_str());
    return kExitUnreachable;
  }
  if (a.detach) {
    print_json(Json{{"run", run->run_id}, {"flow", run->flow}, {"session", run->session}, {"result", run->reply_key}},
               a.compact);
    return kExitSuccess;
  }
  std::unique_ptr<redis::RunEventFollower> follower;
  if (a.events) {
    follower = std::make_unique<redis::RunEventFollower>(*endpoint, flow->keys(), run->run_id, events_after, a.events);
  }
  redis::WaitOptions wait;
  wait.timeout = a.timeout;
  wait.cancel = cancel;
  auto outcome = redis::wait(*conn, *run, wait);
  if (follower) {
    follower->finish(outcome ? outcome->error : std::nullopt, flow->flow().name, run->session);
  }
  if (outcome) return print_outcome(*outcome, a.compact);
  std::fprintf(stderr, "am2z run: lost Redis at %s while waiting for run %s: %s\n", endpoint->display().c_str(),
               run->run_id.c_str(), outcome.error().message.c_str());
  return kExitUnreachable;
}

}  // namespace am2z::cli
