// The sessions index (core/redis/sessions.hpp) on a real Redis, without workers: jobs stay
// queued, so what a session holds, lists and loses on stop is exact.
#include "core/redis/sessions.hpp"

#include <doctest/doctest.h>

#include "core/redis/distributed_run.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace sessions_test {

using namespace am2z;
using namespace am2z::redis;

namespace {

std::shared_ptr<const PlannedFlow> quick_flow() {
  ProcessorRegistry registry;
  register_builtins(registry);
  LoadResult loaded = load_flow_text(R"(
version: 1
name: quick
processors:
  first: {use: set, with: {values: {first: true}}}
  second: {use: set, with: {values: {second: true}}}
flow:
  chain: [first, second]
)",
                                     "quick.yaml", registry, ".");
  REQUIRE(loaded.ok());
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace());
}

RunHandle submit_in(Connection& c, const PlannedFlow& flow, const std::string& session) {
  auto input = State::from_json(Json::object(), "");
  REQUIRE(input);
  DistributedRunOptions options;
  options.session = session;
  auto run = submit(c, flow, std::move(*input), options);
  REQUIRE(run);
  CHECK(run->session == session);
  return *run;
}

const SessionQueue& queue_named(const std::vector<SessionQueue>& queues, const std::string& name) {
  for (const auto& q : queues)
    if (q.queue == name) return q;
  FAIL("no queue " << name);
  return queues.front();
}

}  // namespace

TEST_CASE("stopping a session cancels its runs and removes its queued jobs, and only its own") {
  testing::RedisServer server;
  Connection c{server.endpoint(), ConnectOptions{}};
  const KeySpace keys;
  auto flow = quick_flow();
  std::vector<RunHandle> a_runs;
  for (int i = 0; i < 3; ++i) a_runs.push_back(submit_in(c, *flow, "a"));
  const RunHandle b_run = submit_in(c, *flow, "b");

  auto a_queues = session_queues(c, keys, "a");
  REQUIRE(a_queues);
  CHECK(queue_named(*a_queues, "quick.first").prioritized == 3);  // fair queuing across sessions
  CHECK(queue_named(*a_queues, "quick.second").waiting == 0);

  auto listed = list_sessions(c, keys, 10);
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  for (const auto& s : *listed) CHECK(s.running == (s.id == "a" ? 3 : 1));

  auto report = stop_session(c, keys, "a", Millis{0});
  REQUIRE(report);
  CHECK(report->found);
  CHECK(report->cancelled_runs.size() == 3);
  CHECK(report->removed == 3);
  CHECK(report->still_active == 0);
  for (const auto& run : a_runs) {
    auto out = outcome(c, run);
    REQUIRE(out);
    REQUIRE(out->has_value());
    REQUIRE((*out)->error);
    CHECK((*out)->error->code == "CANCELLED");
    CHECK((*out)->error->message == "cancelled: session a stopped");
  }
  CHECK(c.command({"ZCARD", "bull:quick.first:prioritized"})->integer == 1);       // b's job is still there
  CHECK(c.command({"HEXISTS", "bull:quick.first:am2z:fair", "a"})->integer == 0);  // a's fair-queuing tag went
  auto b_queues = session_queues(c, keys, "b");
  REQUIRE(b_queues);
  CHECK(queue_named(*b_queues, "quick.first").prioritized == 1);
  auto b_out = outcome(c, b_run);
  REQUIRE(b_out);
  CHECK_FALSE(b_out->has_value());

  auto a = find_session(c, keys, "a");
  REQUIRE(a);
  REQUIRE(a->has_value());
  CHECK((*a)->running == 0);
  CHECK((*a)->cancelled == 3);
  CHECK((*a)->stopped_ms > 0);
  CHECK(c.command({"PTTL", keys.session("a")})->integer > 0);    // idle now: it expires
  CHECK(c.command({"PTTL", keys.session("b")})->integer == -1);  // still running: it does not

  auto again = stop_session(c, keys, "a", Millis{0});
  REQUIRE(again);
  CHECK(again->found);
  CHECK(again->cancelled_runs.empty());
  CHECK(again->removed == 0);
  auto unknown = stop_session(c, keys, "nobody", Millis{0});
  REQUIRE(unknown);
  CHECK_FALSE(unknown->found);
}

TEST_CASE("percentiles are nearest-rank over the sample") {
  SessionQueue q;
  CHECK(q.percentile(50) == -1);
  for (long long d = 1; d <= 100; ++d) q.durations_ms.push_back(d);
  CHECK(q.percentile(50) == 50);
  CHECK(q.percentile(99) == 99);
  CHECK(q.percentile(100) == 100);
  q.durations_ms = {7};
  CHECK(q.percentile(1) == 7);
  CHECK(q.percentile(99) == 7);
}

}  // namespace sessions_test
