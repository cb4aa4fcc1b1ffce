// A worker holding more step jobs than it runs (WorkerOptions::prefetch), against a real Redis:
// -c still bounds the steps running at once, a round of jobs costs fewer calls, and jobs held
// for a slot go back to wait, unstarted and their attempts not counted, when the worker stops;
// none is held while a named session's job waits in prioritized (fair queuing lets it past); a
// job fetched again while its earlier run (which lost its lock) still runs waits for that run,
// and goes back unstarted if the worker stops meanwhile.
#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/redis/submitter.hpp"
#include "core/redis/worker.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/redis/step_call_support.hpp"
#include "tests/redis/worker_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace prefetch_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;
using namespace std::chrono_literals;

namespace {

/// What the `gauge` steps of a test saw: how many ran at once, and a gate that holds the steps
/// whose data says `block` until it opens (or their cancellation).
struct Gauge {
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::atomic<int> started{0};
  std::atomic<int> blocked{0};
  std::mutex mutex;
  std::condition_variable opened;
  bool open = false;
};
Gauge* g_gauge = nullptr;

class GaugeProcessor final : public Processor {
 public:
  Status process(State& state, Context& ctx) const override {
    Gauge& g = *g_gauge;
    ++g.started;
    const int now = ++g.running;
    for (int m = g.most.load(); now > m && !g.most.compare_exchange_weak(m, now);) {
    }
    if (state.data.value("block", false)) {
      ++g.blocked;
      std::unique_lock lock(g.mutex);
      while (!g.open && !ctx.cancel_token().cancelled()) g.opened.wait_for(lock, 5ms);
    } else {
      std::this_thread::sleep_for(300us);  // short: well under what lets a queue be prefetched
    }
    --g.running;
    if (ctx.cancel_token().cancelled()) return fail(errors::cancelled(ctx.cancel_token().reason()));
    return {};
  }
};

std::shared_ptr<const PlannedFlow> plan(const std::string& processor) {
  ProcessorRegistry registry;
  register_builtins(registry);
  ProcessorType gauge;
  gauge.name = "gauge";
  gauge.description = "test: counts the steps running at once";
  gauge.create = [](const Json&) -> Result<std::unique_ptr<Processor>> { return std::make_unique<GaugeProcessor>(); };
  registry.add(std::move(gauge));
  const std::string yaml =
      "version: 1\nname: prefetch-test\nprocessors:\n  step: " + processor + "\nflow:\n  chain: [step]\n";
  LoadResult loaded = load_flow_text(yaml, "prefetch_test.yaml", registry, ".");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().to_string()));
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace{});
}

WorkerOptions options(const testing::RedisServer& server, int concurrency, int prefetch) {
  WorkerOptions o;
  o.endpoint = server.endpoint();
  o.concurrency = concurrency;
  o.prefetch = prefetch;
  // the gauge's steps take 300 us, a sanitizer build's worker several ms around them: short here
  o.prefetch_below = 1s;
  o.idle_poll = 200ms;
  o.grace = 300ms;
  o.name = "prefetch-test";
  o.logger = std::make_shared<spdlog::logger>("prefetch-test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return o;
}

/// Submits one run whose step blocks until the gauge's gate opens, and waits until it runs: the
/// run's reply key.
std::string submit_blocked(const testing::RedisServer& server, const PlannedFlow& flow, Gauge& gauge) {
  const int before = gauge.blocked.load();
  std::string reply = submit(server, flow, 1, Json{{"block", true}}).front();
  for (auto until = SteadyClock::now() + kWorkerPatience;
       gauge.blocked.load() == before && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(2ms);
  }
  REQUIRE(gauge.blocked.load() == before + 1);
  return reply;
}

/// A test's Redis, its gauge and the gauge flow, and a connection to look at the queue.
struct GaugeFixture {
  testing::RedisServer server;
  Gauge gauge;
  std::shared_ptr<const PlannedFlow> flow = plan("{use: gauge}");
  Connection c{server.endpoint(), ConnectOptions{}};
  const std::string queue = "bull:prefetch-test.step:";
  GaugeFixture() {
    g_gauge = &gauge;
    REQUIRE(c.connect());
  }
  ~GaugeFixture() { g_gauge = nullptr; }
  /// With a worker running: 20 short runs (the queue's steps are timed short, so prefetched),
  /// then one that blocks (submit_blocked).
  std::string short_runs_then_blocked() {
    await_all(server, submit(server, *flow, 20, Json::object()));
    return submit_blocked(server, *flow, gauge);
  }
  /// The one active job's lock lapses (Redis paused past it, say) and recovery gives it back to
  /// wait while its step still runs; waits until the worker has fetched it again: its lock's
  /// tokens before and after.
  std::pair<std::string, std::string> give_back_running_job() {
    auto active = c.command({"LRANGE", queue + "active", "0", "-1"});
    REQUIRE((active && active->elements.size() == 1));
    given_back = active->elements[0].str;
    const std::string& id = given_back;
    std::string first_token = c.command({"GET", queue + id + ":lock"})->str;
    give_back_to_wait(c, queue, id);
    std::string token;
    for (auto until = SteadyClock::now() + kWorkerPatience; SteadyClock::now() < until;) {
      auto lock = c.command({"GET", queue + id + ":lock"});
      if (lock && !lock->str.empty()) {
        token = lock->str;
        break;
      }
      std::this_thread::sleep_for(2ms);
    }
    REQUIRE_MESSAGE(!token.empty(), "the worker did not fetch the job again");
    return {first_token, token};
  }
  std::string given_back;  ///< the id of the job give_back_running_job gave back
  GaugeFixture(const GaugeFixture&) = delete;
  GaugeFixture& operator=(const GaugeFixture&) = delete;
};

void open_gate(Gauge& gauge) {
  std::lock_guard lock(gauge.mutex);
  gauge.open = true;
}

/// Runs on a worker of its own at -c 1 what is left until every run of `replies` has ended.
void run_on_new_worker(const testing::RedisServer& server, std::shared_ptr<const PlannedFlow> flow,
                       const std::vector<std::string>& replies) {
  RunningWorker again(options(server, 1, 3), std::move(flow));
  await_all(server, replies);
  again.finish();
}

/// How many step-script calls a worker at -c 2 with `prefetch` makes to run `runs` one-step runs
/// of an instant step, queued before it starts.
long long step_calls_for_instant_runs(const testing::RedisServer& server, int runs, int prefetch) {
  auto flow = plan("{use: set, with: {values: {.done: true}}}");
  Connection c(server.endpoint(), ConnectOptions{});
  REQUIRE(c.connect());
  auto replies = submit(server, *flow, runs, Json::object());
  const long long before = command_calls(c, "fcall");
  RunningWorker w(options(server, 2, prefetch), flow);
  await_all(server, replies);
  const long long calls = command_calls(c, "fcall") - before;
  w.finish();
  return calls;
}

}  // namespace

TEST_CASE("prefetch: a round of instant steps takes fewer calls, as many without it as jobs") {
  testing::RedisServer server;
  constexpr int kRuns = 400;
  const long long without = step_calls_for_instant_runs(server, kRuns, 0);
  const long long with = step_calls_for_instant_runs(server, kRuns, 2);
  // -c 2 alone: two calls in flight share two slots, one job each
  CHECK(without >= kRuns);
  // two more held: two jobs per call
  CHECK(with < kRuns * 3 / 4);
  MESSAGE("step-script calls for " << kRuns << " runs: " << without << " without prefetch, " << with << " with");
}

TEST_CASE("prefetch: by default a worker at a small -c holds 16, so its calls carry about 9 jobs at -c 2") {
  testing::RedisServer server;
  constexpr int kRuns = 400;
  const long long calls = step_calls_for_instant_runs(server, kRuns, -1);  // -1: the default
  MESSAGE("step-script calls for " << kRuns << " runs at -c 2 with the default prefetch: " << calls);
  // as many as -c (2) held: about 2 jobs per call, 200 calls; 16: about 9 per call
  CHECK(calls < kRuns / 4);
}

TEST_CASE("prefetch: -c still bounds the steps running at once") {
  testing::RedisServer server;
  Gauge gauge;
  g_gauge = &gauge;
  auto flow = plan("{use: gauge}");
  auto replies = submit(server, *flow, 300, Json::object());
  RunningWorker w(options(server, 2, 6), flow);
  await_all(server, replies);
  w.finish();
  CHECK(gauge.started.load() == 300);
  CHECK(gauge.most.load() <= 2);
  CHECK(gauge.most.load() >= 1);
  g_gauge = nullptr;
}

TEST_CASE_FIXTURE(GaugeFixture, "prefetch: jobs held for a slot go back to wait unstarted when the worker stops") {
  std::vector<std::string> held_replies;
  std::string blocked_reply;
  {
    RunningWorker w(options(server, 1, 3), flow);
    blocked_reply = short_runs_then_blocked();
    const int started_before = gauge.started.load();
    held_replies = submit(server, *flow, 5, Json::object());
    // one running, three held for its slot, two left waiting
    for (auto until = SteadyClock::now() + kWorkerPatience;
         int_reply(c, {"LLEN", queue + "active"}) < 4 && SteadyClock::now() < until;) {
      std::this_thread::sleep_for(2ms);
    }
    CHECK(int_reply(c, {"LLEN", queue + "active"}) == 4);
    CHECK(int_reply(c, {"LLEN", queue + "wait"}) == 2);
    w.finish();  // the blocked step is cancelled after the grace period; the held ones go back at once
    CHECK(gauge.started.load() == started_before);
  }
  CHECK(int_reply(c, {"LLEN", queue + "active"}) == 0);
  CHECK(int_reply(c, {"LLEN", queue + "wait"}) == 6);
  auto ids = c.command({"LRANGE", queue + "wait", "0", "-1"});
  REQUIRE(ids);
  for (const auto& id : ids->elements) {
    auto atm = c.command({"HGET", queue + id.str, "atm"});
    REQUIRE(atm);
    CHECK_MESSAGE((atm->str.empty() || atm->str == "0"), id.str << " counted an attempt: " << atm->str);
    auto lock = c.command({"EXISTS", queue + id.str + ":lock"});
    REQUIRE(lock);
    CHECK(lock->integer == 0);
  }
  open_gate(gauge);
  held_replies.push_back(blocked_reply);
  run_on_new_worker(server, flow, held_replies);
}

TEST_CASE_FIXTURE(GaugeFixture, "prefetch: no job is held beyond -c while a named session's jobs wait in prioritized") {
  std::vector<std::string> fair_replies;
  std::string blocked_reply;
  {
    RunningWorker w(options(server, 1, 3), flow);
    blocked_reply = short_runs_then_blocked();
    const long long calls_before = command_calls(c, "fcall");
    SubmitOptions named;
    named.session = "tenant-a";
    fair_replies = submit(server, *flow, 5, Json::object(), named);
    // the worker hears of them (a call of its own), and takes none: its one slot is busy
    for (auto until = SteadyClock::now() + kWorkerPatience;
         command_calls(c, "fcall") <= calls_before + 1 && SteadyClock::now() < until;) {
      std::this_thread::sleep_for(2ms);
    }
    const long long calls_heard = command_calls(c, "fcall");
    CHECK(calls_heard > calls_before + 1);  // the submission's, and the worker's
    // nor does it ask again and again while its slot stays busy
    std::this_thread::sleep_for(200ms);
    CHECK(command_calls(c, "fcall") - calls_heard <= 10);  // not one per turn of its loop
    CHECK(int_reply(c, {"LLEN", queue + "active"}) == 1);
    CHECK(int_reply(c, {"ZCARD", queue + "prioritized"}) == 5);
    open_gate(gauge);
  }
  // what the first worker did not run before it stopped, a new one runs
  fair_replies.push_back(blocked_reply);
  run_on_new_worker(server, flow, fair_replies);
}

TEST_CASE_FIXTURE(GaugeFixture,
                  "a job given back by stalled recovery while its earlier run still runs here waits for that run") {
  RunningWorker w(options(server, 2, 0), flow);
  const std::string reply = submit_blocked(server, *flow, gauge);
  const auto [first_token, token] = give_back_running_job();
  CHECK(token != first_token);
  std::this_thread::sleep_for(100ms);
  CHECK(gauge.started.load() == 1);  // not run twice at once: the second waits for the first
  open_gate(gauge);
  await_all(server, {reply});
  // the first run's end is refused (its lock is gone); the second runs and ends the run
  for (auto until = SteadyClock::now() + kWorkerPatience; gauge.started.load() < 2 && SteadyClock::now() < until;) {
    std::this_thread::sleep_for(2ms);
  }
  CHECK(gauge.started.load() == 2);
  CHECK(gauge.most.load() == 1);
  w.finish();
}

TEST_CASE_FIXTURE(GaugeFixture,
                  "a worker that stops while a job waits for its earlier run gives that job back unstarted") {
  std::string reply;
  {
    RunningWorker w(options(server, 2, 0), flow);
    reply = submit_blocked(server, *flow, gauge);
    give_back_running_job();
    w.finish();  // the blocked run is cancelled after the grace period; the waiting one goes back
  }
  CHECK(gauge.started.load() == 1);
  CHECK(list_of(c, queue + "wait") == std::vector<std::string>{given_back});
  CHECK(int_reply(c, {"LLEN", queue + "active"}) == 0);
  CHECK(int_reply(c, {"EXISTS", queue + given_back + ":lock"}) == 0);
  open_gate(gauge);
  run_on_new_worker(server, flow, {reply});
  CHECK(gauge.started.load() == 2);
}

}  // namespace prefetch_test
