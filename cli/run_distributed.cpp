#include "cli/run_distributed.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/cli_support.hpp"
#include "cli/exit_codes.hpp"
#include "cli/interrupt.hpp"
#include "cli/progress_display.hpp"
#include "core/redis/batch_progress.hpp"
#include "core/redis/distributed_run.hpp"
#include "core/redis/event_follower.hpp"
#include "core/redis/event_stream.hpp"
#include "core/redis/live_workers.hpp"
#include "core/redis/run_record.hpp"

namespace am2z::cli {

int print_outcome(const redis::DistributedOutcome& outcome, bool compact) {
  if (outcome.ok()) {
    print_json(outcome.state, compact);
    return kExitSuccess;
  }
  Error e = *outcome.error;
  // which run failed, for `run --resume` (a local run's error says so too)
  if (e.context.is_object() && !e.context.contains("runId") && !outcome.run_id.empty()) {
    e.context["runId"] = outcome.run_id;
  }
  print_error(e);
  return exit_code_for(e);
}

namespace {

/// How often a waiting submitter reads its run's batch counts (three commands per batch).
constexpr auto kProgressPoll = std::chrono::seconds(1);

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

/// --resume: the run to resume must have ended, and be a run of this flow. Its input and session
/// become the new run's unless the command line gave them. False (after saying why) to refuse;
/// `code` is then the exit code.
bool prepare_resume(redis::Connection& c, const redis::PlannedFlow& flow, const DistributedRunArgs& a, State& input,
                    redis::DistributedRunOptions& options, int& code) {
  code = kExitUsage;
  auto record = redis::read_run_record(c, flow.keys(), a.resume);
  if (!record) {
    std::fprintf(stderr, "am2z run: --resume %s: %s\n", a.resume.c_str(), record.error().message.c_str());
    code = record.error().category == ErrorCategory::network ? kExitUnreachable : kExitInvalid;
    return false;
  }
  if (!*record) {
    std::fprintf(stderr,
                 "am2z run: --resume %s: no such run on this Redis (prefix '%s'): its record expires with its "
                 "outcome (--result-ttl), and only runs submitted by am2z run --redis have one\n",
                 a.resume.c_str(), flow.keys().prefix().c_str());
    return false;
  }
  const redis::RunRecord& rec = **record;
  if (rec.flow != flow.flow().name) {
    std::fprintf(stderr, "am2z run: --resume %s: that run is of flow '%s', not '%s' (%s)\n", a.resume.c_str(),
                 rec.flow.c_str(), flow.flow().name.c_str(), flow.flow().source.c_str());
    return false;
  }
  auto ended = redis::outcome(c, redis::attach(flow.keys(), a.resume));
  if (!ended) {
    std::fprintf(stderr, "am2z run: --resume %s: %s\n", a.resume.c_str(), ended.error().message.c_str());
    code = kExitUnreachable;
    return false;
  }
  if (!*ended) {
    std::fprintf(stderr,
                 "am2z run: --resume %s: that run has not ended; wait for it (am2z result %s --wait) or stop it "
                 "(am2z session stop)\n",
                 a.resume.c_str(), a.resume.c_str());
    code = kExitPending;
    return false;
  }
  if (rec.hash != flow.hash()) {
    spdlog::warn("{} changed since run {}: its steps' results are matched to this version by position and processor "
                 "instance",
                 flow.flow().source, a.resume);
  }
  if (!a.input_given) {
    auto state = redis::resume_input(rec, flow.keys());
    if (!state) {
      std::fprintf(stderr, "am2z run: --resume %s: the run's recorded input cannot be read: %s\n", a.resume.c_str(),
                   state.error().message.c_str());
      code = kExitInvalid;
      return false;
    }
    input = std::move(*state);
  }
  // the run's named session, unless the command line or the given input named one
  if (a.session.empty() && input.meta.session_id.empty()) options.session = redis::named_session(rec);
  options.resume_of = a.resume;
  return true;
}

/// After a resumed run: which steps' results it took from the run it resumed.
void report_reused(redis::Connection& c, const redis::PlannedFlow& flow, const std::string& run_id,
                   const std::string& resumed) {
  auto record = redis::read_run_record(c, flow.keys(), run_id);
  if (!record || !*record) return;
  std::string list;
  long long total = 0;
  for (const auto& [path, count] : (*record)->reused) {
    const int e = flow.find(path);
    const std::string label = e >= 0 ? flow.entries()[static_cast<std::size_t>(e)].node->label() : path;
    list += (list.empty() ? "" : ", ") + label + (count > 1 ? " x" + std::to_string(count) : "");
    total += count;
  }
  spdlog::info("run {} resumed run {}: {} step result(s) reused{}{}", run_id, resumed, total,
               list.empty() ? "" : ": ", list);
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

  redis::DistributedRunOptions options;
  if (!a.resume.empty()) {
    int code = kExitUsage;
    if (!prepare_resume(*conn, *flow, a, input, options, code)) return code;
  }
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
  options.events = a.publish_events || a.events != nullptr;
  if (options.session.empty()) options.session = a.session;
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
    Json out{{"run", run->run_id}, {"flow", run->flow}, {"session", run->session}, {"result", run->reply_key}};
    if (!a.resume.empty()) out["resumes"] = a.resume;
    print_json(out, a.compact);
    return kExitSuccess;
  }
  std::unique_ptr<redis::RunEventFollower> follower;
  if (a.events) {
    follower = std::make_unique<redis::RunEventFollower>(*endpoint, flow->keys(), run->run_id, events_after, a.events);
  }
  // The run's batch items as they end, when it has batches (progress_display.hpp).
  std::unique_ptr<ProgressDisplay> display;
  std::unique_ptr<redis::BatchProgressPoller> poller;
  if (auto joins = redis::batch_join_keys(*flow, run->run_id); a.progress && !joins.empty()) {
    auto progress = std::make_shared<RunProgress>();
    progress->counts_steps.store(false);
    if ((display = ProgressDisplay::start(progress))) {
      poller = std::make_unique<redis::BatchProgressPoller>(*endpoint, std::move(joins), progress, kProgressPoll);
    }
  }
  redis::WaitOptions wait;
  wait.timeout = a.timeout;
  wait.cancel = cancel;
  auto outcome = redis::wait(*conn, *run, wait);
  poller.reset();
  display.reset();
  if (follower) {
    follower->finish(outcome ? outcome->error : std::nullopt, flow->flow().name, run->session);
  }
  if (outcome && !a.resume.empty()) report_reused(*conn, *flow, run->run_id, a.resume);
  if (outcome) return print_outcome(*outcome, a.compact);
  std::fprintf(stderr, "am2z run: lost Redis at %s while waiting for run %s: %s\n", endpoint->display().c_str(),
               run->run_id.c_str(), outcome.error().message.c_str());
  return kExitUnreachable;
}

}  // namespace am2z::cli
