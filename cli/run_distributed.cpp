#include "cli/run_distributed.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/cli_support.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "core/redis/submitter.hpp"
#include "core/units.hpp"

namespace am2z::cli {

int print_outcome(const Json& payload, bool compact) {
  if (payload.value("ok", false)) {
    print_json(payload.value("state", Json::object()), compact);
    return kExitSuccess;
  }
  const Error e = Error::from_json(payload.value("error", Json::object()));
  print_error_json(Json{{"error", e.to_json()}});
  if (e.category == ErrorCategory::cancelled) return kExitInterrupted;
  if (e.category == ErrorCategory::timeout) return kExitTimeout;
  return kExitFailure;
}

int run_distributed(const DistributedRunArgs& a, const LoadResult& loaded, State input) {
  auto ttl = parse_duration(a.result_ttl);
  if (!ttl || ttl->count() < 0) {
    std::fprintf(stderr, "am2z run: --result-ttl: '%s' is not a duration such as 1h\n", a.result_ttl.c_str());
    return kExitUsage;
  }
  auto max_job = parse_size(a.max_job_size);
  if (!max_job) {
    std::fprintf(stderr, "am2z run: --max-job-size: %s\n", max_job.error().context.value("reason", "").c_str());
    return kExitUsage;
  }
  if (const std::size_t size = input.to_json().dump().size(); size > *max_job) {
    print_error_json(Json{{"error", errors::validation("input", nullptr,
                                                       "is " + std::to_string(size) + " bytes as JSON, more than the " +
                                                           std::to_string(*max_job) +
                                                           "-byte job limit of the workers (--max-job-size)")
                                        .to_json()}});
    return kExitInvalid;
  }
  auto endpoint = resolve_endpoint(a.redis, "run");
  if (!endpoint) return kExitUsage;
  auto flow = plan_loaded_flow(a.flow_file, loaded, a.redis.prefix);
  auto conn = connect_or_report(*endpoint, "run");
  if (!conn) return kExitUnreachable;

  const CancelToken cancel = install_interrupt_handler();
  const auto started = SteadyClock::now();
  redis::SubmitOptions options;
  options.session = a.session;
  options.result_ttl = *ttl;
  options.all_events = a.all_events;
  auto submitted = redis::submit_run(*conn, *flow, input, options);
  if (!submitted) {
    std::fprintf(stderr, "am2z run: could not submit the run to %s: %s\n", endpoint->display().c_str(),
                 submitted.error().message.c_str());
    return kExitUnreachable;
  }
  if (a.detach) {
    print_json(Json{{"run", submitted->run_id}, {"flow", flow->flow().name}, {"result", submitted->reply_key}},
               a.compact);
    return kExitSuccess;
  }
  std::optional<Deadline> deadline;
  if (a.timeout) deadline = started + *a.timeout;
  auto outcome = redis::wait_outcome(*conn, submitted->reply_key, deadline, cancel);
  if (outcome) return print_outcome(*outcome, a.compact);

  Error e = std::move(outcome.error());
  if (e.category == ErrorCategory::timeout || e.category == ErrorCategory::cancelled) {
    // The caller gives up: nothing more of this run may start anywhere.
    if (e.category == ErrorCategory::timeout) e = errors::timeout(flow->flow().name, a.timeout->count());
    e.partial_state = std::make_shared<const Json>(input.to_json());
    e.context["runId"] = submitted->run_id;
    // Its outcome is this error, unless a worker recorded another one first.
    if (auto st = redis::cancel_run(*conn, flow->keys(), submitted->run_id, e, *ttl); !st) {
      spdlog::warn("could not cancel run {}: {}", submitted->run_id, st.error().message);
    }
    print_error_json(Json{{"error", e.to_json()}});
    return e.category == ErrorCategory::timeout ? kExitTimeout : kExitInterrupted;
  }
  std::fprintf(stderr, "am2z run: lost Redis at %s while waiting for run %s: %s\n", endpoint->display().c_str(),
               submitted->run_id.c_str(), e.message.c_str());
  return kExitUnreachable;
}

}  // namespace am2z::cli
