// The worker's marker waker leaves alone the markers of queues its dispatcher fetches anyway
// (Worker::Impl::update_waker_skip): a saturated worker does not pop a marker per call, yet a
// queue that drains is watched again at once, and delayed jobs of a busy queue still come due on
// time.
#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "core/redis/worker.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/redis/worker_support.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace waker_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;
using namespace std::chrono_literals;

namespace {

/// Sleeps `ms` (from its data; 2 by default): a step that keeps a worker busy without CPU.
class NapProcessor final : public Processor {
 public:
  Status process(State& state, Context&) const override {
    std::this_thread::sleep_for(std::chrono::milliseconds(state.data.value("ms", 2)));
    return {};
  }
};

std::shared_ptr<const PlannedFlow> plan(const std::string& name, const std::string& processor) {
  ProcessorRegistry registry;
  register_builtins(registry);
  ProcessorType nap;
  nap.name = "nap";
  nap.description = "test: sleeps";
  nap.create = [](const Json&) -> Result<std::unique_ptr<Processor>> { return std::make_unique<NapProcessor>(); };
  registry.add(std::move(nap));
  const std::string yaml = "version: 1\nname: " + name + "\nprocessors:\n  step: " + processor + "\nflow: step\n";
  LoadResult loaded = load_flow_text(yaml, name + ".yaml", registry, ".");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().to_string()));
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace{});
}

/// A worker whose safety poll (idle_poll) is far longer than any wait a test accepts: what it
/// hears in time, it heard from a marker.
WorkerOptions options(const testing::RedisServer& server, int concurrency) {
  WorkerOptions o;
  o.endpoint = server.endpoint();
  o.concurrency = concurrency;
  o.idle_poll = 30s;
  o.grace = 300ms;
  o.name = "waker-test";
  o.logger = std::make_shared<spdlog::logger>("waker-test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return o;
}

constexpr const char* kBusyQueue = "bull:waker-busy.step:";

/// A Redis of the test's own and a connection to it.
struct Redis {
  testing::RedisServer server;
  Connection c{server.endpoint(), ConnectOptions{}};
  Redis() { REQUIRE(c.connect()); }
};

/// Polls `done` every 5 ms for up to `patience`: the time it took.
template <class Done>
std::chrono::milliseconds wait_until(Done done, std::chrono::milliseconds patience) {
  const auto start = SteadyClock::now();
  while (!done() && SteadyClock::now() - start < patience) std::this_thread::sleep_for(5ms);
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
}

}  // namespace

TEST_CASE("waker: a saturated worker does not pop a marker per call") {
  Redis r;
  auto& [server, c] = r;
  auto busy = plan("waker-busy", "{use: set, with: {values: {.done: true}}}");
  auto idle = plan("waker-idle", "{use: set, with: {values: {.done: true}}}");  // served, never used
  auto replies = submit(server, *busy, 3000, Json::object());
  REQUIRE(c.command({"CONFIG", "RESETSTAT"}));
  RunningWorker w(options(server, 8), {busy, idle});
  await_all(server, replies);
  w.finish();
  const long long calls = command_calls(c, "fcall");
  const long long pops = command_calls(c, "bzpopmin");
  MESSAGE(calls << " step calls, " << pops << " marker pops");
  // every full fetch leaves a marker (to wake other workers); popping each was one pop per call
  // (a call fetches at most 12 jobs at -c 8: half of -c and the default prefetch, 16)
  CHECK(calls >= 3000 / 12);
  CHECK(pops * 10 < calls);
}

TEST_CASE("waker: a queue that drained after a burst is watched again") {
  Redis r;
  auto& [server, c] = r;
  auto burst = plan("waker-burst", "{use: set, with: {values: {.done: true}}}");
  auto replies = submit(server, *burst, 3000, Json::object());
  RunningWorker w(options(server, 8), burst);
  // saturated meanwhile: the waker left the queue's marker alone, blocked on its own key only
  await_all(server, replies);
  std::this_thread::sleep_for(100ms);
  const auto start = SteadyClock::now();
  const auto late = submit(server, *burst, 1, Json::object());
  auto out = wait_outcome(c, late.front(), SteadyClock::now() + 5s, CancelToken());
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  REQUIRE_MESSAGE(out, "a job on a drained queue was not taken within 5 s (the safety poll is 30 s)");
  MESSAGE("a job on the drained queue waited " << waited.count() << " ms");
  CHECK(waited < 2s);
  w.finish();
}

TEST_CASE("waker: a delayed job of a queue the waker leaves alone still comes due on time") {
  Redis r;
  auto& [server, c] = r;
  auto busy = plan("waker-busy", "{use: nap}");
  auto backlog = submit(server, *busy, 6000, Json::object());
  RunningWorker w(options(server, 4), busy);
  std::this_thread::sleep_for(200ms);  // saturated by now: its marker left alone
  SubmitOptions later;
  later.delay = 300ms;
  submit(server, *busy, 1, Json::object(), later);
  const std::string delayed = std::string(kBusyQueue) + "delayed";
  CHECK(int_reply(c, {"ZCARD", delayed}) == 1);
  const auto took = wait_until([&] { return int_reply(c, {"ZCARD", delayed}) == 0; }, 5s);
  MESSAGE("the delayed job left the delayed set after " << took.count() << " ms (due after 300)");
  CHECK(int_reply(c, {"ZCARD", delayed}) == 0);
  CHECK(took < 2s);
  CHECK(int_reply(c, {"LLEN", std::string(kBusyQueue) + "wait"}) > 0);  // still busy meanwhile
  w.finish();
}

TEST_CASE("waker: a worker whose slots are all taken makes no calls while it waits") {
  Redis r;
  auto& [server, c] = r;
  auto busy = plan("waker-busy", "{use: nap}");
  // ten long steps at -c 2: the fetches that took two were full, then every slot is busy
  auto replies = submit(server, *busy, 10, Json{{"ms", 1500}});
  RunningWorker w(options(server, 2), busy);
  const std::string active = std::string(kBusyQueue) + "active";
  wait_until([&] { return int_reply(c, {"LLEN", active}) >= 2; }, 10s);
  REQUIRE(int_reply(c, {"LLEN", active}) == 2);
  std::this_thread::sleep_for(100ms);
  const long long before = command_calls(c, "fcall");
  std::this_thread::sleep_for(800ms);
  const long long calls = command_calls(c, "fcall") - before;
  MESSAGE(calls << " step calls while both slots were busy for 800 ms");
  CHECK(calls <= 5);
  w.finish();
}

TEST_CASE("waker: a worker stops at once though its waker blocks for the whole idle poll") {
  Redis r;
  auto& [server, c] = r;
  auto idle = plan("waker-idle", "{use: set, with: {values: {.done: true}}}");
  RunningWorker w(options(server, 2), idle);  // idle_poll 30 s: the marker block lasts that long
  // blocked on the markers by now (nothing to fetch)
  wait_until([&] { return command_calls(c, "bzpopmin") >= 1; }, 5s);
  std::this_thread::sleep_for(200ms);
  const auto start = SteadyClock::now();
  w.finish();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  MESSAGE("the worker stopped " << took.count() << " ms after it was told to");
  CHECK(took < 3s);
  Result<Reply> left = c.command({"KEYS", "*waker:*"});
  REQUIRE(left);
  CHECK(left->elements.empty());  // the member that woke it is not left behind
}

TEST_CASE("waker: a worker told to stop while Redis is down still stops at once") {
  Redis r;
  auto& [server, c] = r;
  auto idle = plan("waker-idle", "{use: set, with: {values: {.done: true}}}");
  RunningWorker w(options(server, 2), idle);
  wait_until([&] { return command_calls(c, "bzpopmin") >= 1; }, 5s);
  (void)c.command({"SHUTDOWN", "NOSAVE"});  // no reply: the server is gone
  std::this_thread::sleep_for(200ms);
  const auto start = SteadyClock::now();
  w.finish();  // the wake-up and the key's removal fail; the worker still ends without an error
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  MESSAGE("with Redis gone, the worker stopped " << took.count() << " ms after it was told to");
  CHECK(took < 5s);
}

}  // namespace waker_test
