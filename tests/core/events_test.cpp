// Lifecycle and custom events through an EventSink.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <regex>
#include <thread>

#include "tests/core/test_support.hpp"

using namespace am2z;
using namespace std::chrono_literals;

namespace {

using test::CollectingSink;

RunOptions with_sink(EventSink& sink) {
  RunOptions o;
  o.events = std::shared_ptr<EventSink>(std::shared_ptr<void>(), &sink);  // non-owning
  return o;
}

NodePtr chain(std::vector<NodePtr> steps) { return std::make_shared<ChainNode>("c", std::move(steps)); }

}  // namespace

TEST_CASE("a successful run: flow and processor lifecycle in order") {
  CollectingSink sink;
  RunOutcome out = test::run(chain({test::leaf("first", test::add(1)), test::leaf("second", test::add(2))}),
                             Json{{"count", 0}}, with_sink(sink));
  REQUIRE(out.ok());
  CHECK(sink.names() == std::vector<std::string>{"flow:started", "processor:started", "processor:completed",
                                                 "processor:started", "processor:completed", "flow:completed"});
  const auto ev = sink.all();
  const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  for (const auto& e : ev) {
    CAPTURE(e.dump());
    CHECK(e["runId"] == out.run_id);
    CHECK(e["sessionId"] == "s1");
    CHECK(std::regex_match(e["ts"].get<std::string>(), iso));
  }
  CHECK(ev[0]["flow"] == "test-flow");
  CHECK(ev[1]["processor"] == "first");
  CHECK(ev[1]["type"] == "test");
  CHECK(ev[1]["attempt"] == 1);
  CHECK(ev[2]["processor"] == "first");
  CHECK(ev[2]["version"] == 2);
  CHECK(ev[2]["durationMs"].is_number_integer());
  CHECK(ev[4]["processor"] == "second");
  CHECK(ev[4]["version"] == 3);
  CHECK(ev[5]["flow"] == "test-flow");
  CHECK(ev[5]["version"] == 3);
  CHECK(ev[5]["durationMs"].get<long long>() >= 0);
  CHECK(out.state.data["count"] == 3);  // a sink does not change the outcome
}

TEST_CASE("a failing run: processor:failed then flow:failed with the error") {
  CollectingSink sink;
  RunOutcome out = test::run(
      chain({test::leaf("ok", test::add(1)),
             test::leaf("bad", [](State&, Context&) -> Status { return fail(errors::validation("x", 1, "nope")); })}),
      Json::object(), with_sink(sink));
  REQUIRE_FALSE(out.ok());
  CHECK(sink.names() == std::vector<std::string>{"flow:started", "processor:started", "processor:completed",
                                                 "processor:started", "processor:failed", "flow:failed"});
  const auto ev = sink.all();
  CHECK(ev[4]["processor"] == "bad");
  CHECK(ev[4]["error"]["code"] == "VALIDATION_FAILED");
  CHECK(ev[4]["error"]["context"]["failedProcessor"] == "bad");
  CHECK(ev[5]["error"]["code"] == "VALIDATION_FAILED");
  CHECK(ev[5]["error"]["context"]["completedSteps"] == 1);
  CHECK(ev[5]["error"]["partialState"]["count"] == 1);
}

TEST_CASE("processor:retrying is emitted between attempts") {
  CollectingSink sink;
  StepPolicy p;
  p.retry.attempts = 2;
  p.retry.initial_backoff = 1ms;
  RunOutcome out = test::run(test::leaf(
                                 "flaky",
                                 [](State&, Context& ctx) -> Status {
                                   if (ctx.attempt() == 1) return fail(errors::network("api", 502, ""));
                                   return {};
                                 },
                                 p),
                             Json::object(), with_sink(sink));
  REQUIRE(out.ok());
  CHECK(sink.names() == std::vector<std::string>{"flow:started", "processor:started", "processor:retrying",
                                                 "processor:started", "processor:completed", "flow:completed"});
  const auto ev = sink.all();
  CHECK(ev[2]["error"]["code"] == "NETWORK_ERROR");
  CHECK(ev[3]["attempt"] == 2);
}

TEST_CASE("custom events from ctx.emit carry the processor, execution id and data") {
  CollectingSink sink;
  std::string exec_id;
  RunOutcome out = test::run(test::leaf("reporter",
                                        [&exec_id](State&, Context& ctx) -> Status {
                                          exec_id = ctx.execution_id();
                                          CHECK(ctx.events_enabled());
                                          ctx.emit("progress", Json{{"pct", 50}, {"note", "half way"}});
                                          ctx.emit("ping");
                                          return {};
                                        }),
                             Json::object(), with_sink(sink));
  REQUIRE(out.ok());
  const auto ev = sink.all();
  REQUIRE(ev.size() == 6);
  const Json& progress = ev[2];
  CHECK(progress["event"] == "progress");
  CHECK(progress["processor"] == "reporter");
  CHECK(progress["executionId"] == exec_id);
  CHECK(progress["attempt"] == 1);
  CHECK(progress["data"] == Json{{"pct", 50}, {"note", "half way"}});
  CHECK(progress["runId"] == out.run_id);
  CHECK(progress["sessionId"] == "s1");
  CHECK(ev[3]["event"] == "ping");
  CHECK(ev[3]["data"].is_null());
}

TEST_CASE("events from parallel branches all arrive") {
  CollectingSink sink;
  std::vector<NodePtr> branches;
  for (int i = 0; i < 6; ++i) {
    branches.push_back(test::leaf("b" + std::to_string(i), [i](State&, Context& ctx) -> Status {
      for (int k = 0; k < 20; ++k) ctx.emit("tick", Json{{"branch", i}, {"k", k}});
      return {};
    }));
  }
  RunOutcome out = test::run(std::make_shared<ParallelNode>("p", std::move(branches), MergeStrategy::deep),
                             Json::object(), with_sink(sink));
  REQUIRE(out.ok());
  int ticks = 0;
  for (const auto& e : sink.all()) ticks += e["event"] == "tick" ? 1 : 0;
  CHECK(ticks == 120);
  const auto names = sink.names();
  CHECK(names.front() == "flow:started");
  CHECK(names.back() == "flow:completed");
}

TEST_CASE("no sink: nothing is built and emit is a no-op") {
  bool enabled = true;
  bool emitted = false;
  RunOutcome out = test::run(test::leaf("quiet", [&](State& s, Context& ctx) -> Status {
    enabled = ctx.events_enabled();
    ctx.emit("custom", Json{{"x", 1}});
    emitted = true;
    s.data["ran"] = true;
    return {};
  }));
  REQUIRE(out.ok());
  CHECK_FALSE(enabled);
  CHECK(emitted);
  CHECK(out.state.data["ran"] == true);

  // A sink attached to one run hears nothing from another run.
  CollectingSink sink;
  REQUIRE(test::run(test::leaf("a", test::add(1)), Json::object(), with_sink(sink)).ok());
  const auto before = sink.all().size();
  REQUIRE(test::run(test::leaf("b", test::add(1))).ok());
  CHECK(sink.all().size() == before);
}

TEST_CASE("JsonLinesSink writes one JSON object per line") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    JsonLinesSink sink(f);
    RunOptions o;
    o.events = std::shared_ptr<EventSink>(std::shared_ptr<void>(), &sink);  // non-owning
    REQUIRE(test::run(test::leaf("one", test::add(1)), Json::object(), o).ok());
  }
  std::rewind(f);
  std::vector<Json> lines;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, f) != nullptr) {
    std::string line(buf);
    REQUIRE(!line.empty());
    CHECK(line.back() == '\n');
    lines.push_back(Json::parse(line));
  }
  std::fclose(f);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0]["event"] == "flow:started");
  CHECK(lines[3]["event"] == "flow:completed");
}

TEST_CASE("a step abandoned by a run timeout publishes nothing after flow:failed") {
  auto sink = std::make_shared<CollectingSink>();
  StepPolicy retrying;
  retrying.retry.attempts = 2;  // not plain, so the leaf publishes its own events
  retrying.retry.on_codes = {"NEVER"};
  RunOptions o;
  o.events = sink;
  o.timeout = 50ms;
  RunOutcome out = test::run(test::leaf(
                                 "stubborn",
                                 [](State&, Context&) -> Status {
                                   std::this_thread::sleep_for(300ms);  // ignores its token
                                   return {};
                                 },
                                 retrying),
                             Json::object(), o);
  REQUIRE_FALSE(out.ok());
  std::this_thread::sleep_for(500ms);  // the abandoned step finishes meanwhile
  const auto names = sink->names();
  REQUIRE(!names.empty());
  CHECK(names.back() == "flow:failed");
  CHECK(std::count(names.begin(), names.end(), "processor:completed") == 0);
}
