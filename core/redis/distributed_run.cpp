#include "core/redis/distributed_run.hpp"

#include <spdlog/spdlog.h>

#include "core/redis/submitter.hpp"

namespace am2z::redis {

namespace {

/// Reads an outcome payload ({"run", "ok", "state"|"error"}); anything but "ok": true is a failure,
/// since the payload comes from Redis, where anyone may have written it.
DistributedOutcome from_payload(const Json& payload, const std::string& run_id) {
  DistributedOutcome out;
  out.run_id = run_id;
  if (payload.value("ok", Json()) == true) {
    out.state = payload.value("state", Json::object());
  } else {
    out.error = Error::from_json(payload.value("error", Json::object()));
  }
  return out;
}

}  // namespace

Status check_input_size(const State& input, std::size_t max_bytes) {
  const std::size_t size = input.to_json().dump().size();
  if (size <= max_bytes) return {};
  return fail(errors::validation("input", nullptr,
                                 "is " + std::to_string(size) + " bytes as JSON, more than the " +
                                     std::to_string(max_bytes) + "-byte job limit of the workers (--max-job-size)"));
}

Result<RunHandle> submit(Connection& c, const PlannedFlow& flow, State input, const DistributedRunOptions& options) {
  RunHandle run;
  run.started = SteadyClock::now();
  if (options.max_input_bytes > 0) {
    if (auto st = check_input_size(input, options.max_input_bytes); !st) return fail(std::move(st.error()));
  }
  run.keys = flow.keys();
  run.flow = flow.flow().name;
  run.result_ttl = options.result_ttl;
  Json input_json = input.to_json();
  SubmitOptions submit_options;
  submit_options.session = options.session;
  submit_options.result_ttl = options.result_ttl;
  submit_options.all_events = options.all_events;
  submit_options.session_ttl = options.session_ttl;
  submit_options.events = options.events;
  submit_options.priority = options.priority;
  submit_options.delay = options.delay;
  submit_options.keep_record = options.keep_record;
  submit_options.resume_of = options.resume_of;
  auto submitted = submit_run(c, flow, std::move(input), submit_options);
  if (!submitted) return fail(std::move(submitted.error()));
  run.run_id = std::move(submitted->run_id);
  run.reply_key = std::move(submitted->reply_key);
  input_json["metadata"]["sessionId"] = submitted->session;  // a give-up's partial state names it
  run.input = std::make_shared<const Json>(std::move(input_json));
  run.session = std::move(submitted->session);
  return run;
}

RunHandle attach(const KeySpace& keys, std::string run_id) {
  RunHandle run;
  run.keys = keys;
  run.started = SteadyClock::now();
  run.reply_key = keys.run_result(run_id);
  run.run_id = std::move(run_id);
  return run;
}

Result<DistributedOutcome> wait(Connection& c, const RunHandle& run, const WaitOptions& options) {
  std::optional<Deadline> deadline;
  if (options.timeout) deadline = run.started + *options.timeout;
  auto payload = wait_outcome(c, run.reply_key, deadline, options.cancel);
  if (payload) return from_payload(*payload, run.run_id);

  Error e = std::move(payload.error());
  const bool timed_out = e.category == ErrorCategory::timeout && options.timeout;
  const bool gave_up = timed_out || e.category == ErrorCategory::cancelled;
  if (!gave_up || !options.end_run_on_give_up) return fail(std::move(e));
  // The caller gives up: nothing more of this run may start anywhere, and its outcome says why.
  if (timed_out) e = errors::timeout(run.flow.empty() ? "run " + run.run_id : run.flow, options.timeout->count());
  if (run.input) e.partial_state = run.input;
  e.context["runId"] = run.run_id;
  if (auto st = cancel(c, run, e); !st) {
    spdlog::warn("could not cancel run {}: {}", run.run_id, st.error().message);
  }
  DistributedOutcome out;
  out.run_id = run.run_id;
  out.error = std::move(e);
  return out;
}

Status cancel(Connection& c, const RunHandle& run, const Error& why) {
  return cancel_run(c, run.keys, run.run_id, run.session, why, run.result_ttl);
}

Result<std::optional<DistributedOutcome>> outcome(Connection& c, const RunHandle& run) {
  auto found = read_outcome(c, run.reply_key);
  if (!found) return fail(std::move(found.error()));
  if (!*found) return std::optional<DistributedOutcome>();
  return std::optional<DistributedOutcome>(from_payload(**found, run.run_id));
}

}  // namespace am2z::redis
