#include "core/redis/planner.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "core/events.hpp"
#include "core/redis/op_chunks.hpp"
#include "core/redis/run_events.hpp"
#include "core/redis/schedules.hpp"
#include "core/redis/submitter.hpp"
#include "tests/redis/planner_support.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace planner_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::planner_testing;

TEST_CASE("a run starts with the first step's job") {
  auto flow = plan(kFlow);
  OpList ops;
  Planner(*flow).start_run(state_of({{"kind", "x"}}), run_envelope(), ops);
  CHECK(shape(argv_of(ops)) == std::vector<std::string>{"G", "A bull:f.a:"});
}

TEST_CASE("a named session's steps are queued fairly; a generated session's go to wait, FIFO") {
  auto flow = plan(kFlow);
  const auto fair_lane_of = [&](const std::string& session) {
    Envelope run = run_envelope();
    run.session = session;
    OpList ops;
    Planner(*flow).start_run(state_of({{"kind", "x"}}), run, ops);
    const auto argv = argv_of(ops);
    REQUIRE(argv.size() == 16);
    return argv[1 + 10];
  };
  CHECK(fair_lane_of("tenant-7") == "tenant-7");
  CHECK(fair_lane_of(generated_session("r1")).empty());
  CHECK(fair_lane_of("").empty());
}

TEST_CASE("a step's priority wins over its run's; delays become a due time and BullMQ's opts") {
  auto flow = plan(R"(
version: 1
name: f
processors:
  urgent: {use: set, with: {values: {a: 1}}, priority: 1, delay: 5s}
  plain: {use: set, with: {values: {b: 1}}}
flow:
  parallel: [urgent, plain]
)");
  Envelope run = run_envelope();
  run.priority = 7;
  const long long before = unix_ms();
  OpList ops;
  Planner(*flow).start_run(state_of({}), run, ops);
  const auto argv = argv_of(ops);
  REQUIRE(shape(argv) == std::vector<std::string>{"G", "A bull:f.urgent:", "A bull:f.plain:", "A bull:f._join:"});
  const auto opts = [&](std::size_t at) { return Json::parse(argv[at + 5]); };
  CHECK(argv[1 + 11] == "1");  // its own priority
  const long long due = std::stoll(argv[1 + 12]);
  CHECK(due >= before + 5000);
  CHECK(due <= unix_ms() + 5000);
  CHECK(opts(1)["priority"] == 1);
  CHECK(opts(1)["delay"].get<long long>() > 4000);
  CHECK(argv[16 + 11] == "7");  // the run's
  CHECK(argv[16 + 12] == "0");  // at once
  CHECK(opts(16)["priority"] == 7);
  CHECK_FALSE(opts(16).contains("delay"));
  CHECK(argv[31 + 11] == "0");  // a join is never prioritized nor delayed
  CHECK(argv[31 + 12] == "0");

  // run --delay: nothing of the run starts before its time
  Envelope later = run_envelope();
  later.not_before_ms = unix_ms() + 60000;
  OpList delayed;
  Planner(*flow).start_run(state_of({}), later, delayed);
  const auto dargv = argv_of(delayed);
  CHECK(dargv[1 + 12] == std::to_string(later.not_before_ms));
  CHECK(dargv[16 + 12] == std::to_string(later.not_before_ms));
}

TEST_CASE("finishing a step before a parallel adds every branch, then the join, then nothing else") {
  auto flow = plan(kFlow);
  Envelope self = run_envelope();
  self.node = "n.0";
  OpList ops;
  ops.begin_group();
  Planner(*flow).finished(self, "bull:f.a:rr1.n.0", state_of({{"kind", "x"}}), ops);
  const auto argv = argv_of(ops);
  // the join comes after its children, so that it sees every one of them when created
  CHECK(shape(argv) == std::vector<std::string>{"G", "A bull:f.b:", "A bull:f.c:", "A bull:f._join:"});
  // the join waits for its children; each child names it as parent
  CHECK(argv[31 + 6] == "c");
  CHECK(argv[1 + 7] == "bull:f._join:rr1.n.1");
  CHECK(argv[1 + 9] == "bull:f._join:rr1.n.1:dependencies");
  CHECK(argv[1 + 10] == "");  // the envelope names no session: the branch goes to wait, FIFO
}

TEST_CASE("a branch's end is delivered to its join as BullMQ keeps a child's returnvalue") {
  auto flow = plan(kFlow);
  Envelope self = run_envelope();
  self.node = "n.1.1";
  self.join = JoinRef{"bull:f._join:", "rr1.n.1", "n.1", 1};
  OpList ops;
  Planner(*flow).finished(self, "bull:f.c:rr1.n.1.1", state_of({{"c", 1}}), ops);
  const auto argv = argv_of(ops);
  REQUIRE(shape(argv) == std::vector<std::string>{"J bull:f._join:"});
  CHECK(argv[3] == "bull:f.c:rr1.n.1.1");
  CHECK(Json::parse(argv[4])["c"] == 1);  // the state itself, as getChildrenValues() shows it
  CHECK(argv[5] == "1");
}

TEST_CASE("a failed branch is delivered as its failedReason, with the whole error beside it") {
  auto flow = plan(kFlow);
  Envelope self = run_envelope();
  self.node = "n.1.0";
  self.join = JoinRef{"bull:f._join:", "rr1.n.1", "n.1", 0};
  OpList ops;
  Planner(*flow).finished(self, "bull:f.b:rr1.n.1.0", fail(errors::business("NO", "upstream refused")), ops);
  const auto argv = argv_of(ops);
  REQUIRE(shape(argv) == std::vector<std::string>{"J bull:f._join:"});
  CHECK(argv[4] == "upstream refused");
  CHECK(argv[5] == "0");
  CHECK(Json::parse(argv[6])["code"] == "NO");
}

TEST_CASE("a join merges its branches in declaration order and routes on the result") {
  auto flow = plan(kFlow);
  Envelope self = run_envelope();
  self.node = "n.1";
  Planner planner(*flow);
  State base = state_of({{"kind", "x"}});
  Planner::ChildValues ok{{"bull:f.c:rr1.n.1.1", state_of({{"kind", "x"}, {"c", 1}}).to_json().dump()},
                          {"bull:f.b:rr1.n.1.0", state_of({{"kind", "x"}, {"b", 1}}).to_json().dump()}};
  auto merged = planner.settle_join(self, base, ok, {}, {});
  REQUIRE_MESSAGE(merged, (merged ? "" : merged.error().message));
  CHECK(merged->data == Json{{"kind", "x"}, {"b", 1}, {"c", 1}});
  OpList ops;
  planner.finished(self, "bull:f._join:rr1.n.1", std::move(*merged), ops);
  // the route's case x is processor a: its job gets the merged state
  const auto argv = argv_of(ops);
  CHECK(shape(argv) == std::vector<std::string>{"A bull:f.a:"});
  CHECK(argv[2] == "rr1.n.2.0");
}

TEST_CASE("a failed branch fails the join with the first failure in declaration order") {
  auto flow = plan(kFlow);
  Envelope self = run_envelope();
  self.node = "n.1";
  Planner::ChildValues failed{{"bull:f.c:rr1.n.1.1", "second"}, {"bull:f.b:rr1.n.1.0", "first"}};
  std::unordered_map<std::string, std::string> full{
      {"bull:f.b:rr1.n.1.0", errors::business("EARLY", "first").to_json().dump()}};
  auto out = Planner(*flow).settle_join(self, state_of({{"kind", "x"}}), {}, failed, full);
  REQUIRE_FALSE(out);
  CHECK(out.error().code == "EARLY");
  CHECK(out.error().context["branch"] == 0);
  REQUIRE(out.error().partial_state);
  CHECK((*out.error().partial_state)["kind"] == "x");
}

TEST_CASE("a join refuses a child key that is not one of its branches") {
  auto flow = plan(kFlow);
  Envelope self = run_envelope();
  self.node = "n.1";
  auto out = Planner(*flow).settle_join(self, state_of({}), {{"bull:x:17", "{}"}}, {}, {});
  REQUIRE_FALSE(out);
  CHECK(out.error().message.find("bull:x:17") != std::string::npos);
}

TEST_CASE("the last step pushes the outcome; a failure carries the chain's progress") {
  auto flow = plan(kFlow);
  Envelope self = run_envelope();
  self.node = "n.2.0";
  OpList ops;
  Error e = errors::business("NOPE", "no");
  e.partial_state = std::make_shared<const Json>(Json{{"kind", "x"}});
  Planner(*flow).finished(self, "bull:f.a:rr1.n.2.0", fail(e), ops);
  const auto argv = argv_of(ops);
  REQUIRE(shape(argv) == std::vector<std::string>{"O reply"});
  const Json payload = Json::parse(argv[2]);
  CHECK(payload["ok"] == false);
  CHECK(payload["error"]["context"]["completedSteps"] == 2);
  CHECK(payload["error"]["partialState"]["kind"] == "x");
  CHECK(argv[5] == "");        // the envelope names no session: nothing to count
  CHECK(argv[6] == "failed");  // how the session counts the end
}

TEST_CASE("an outcome's text is the payload's JSON text, success or failure") {
  State s = state_of({{"z", 1}, {"a", Json::array({1, 2})}, {"q\"", "\xC3"}});
  for (const char* run : {"r1", "odd \"run\""}) {
    CHECK(outcome_text(run, s) == dump_text(outcome_payload(run, s)));
    const Result<State> failed = fail(errors::business("NOPE", "no"));
    CHECK(outcome_text(run, failed) == dump_text(outcome_payload(run, failed)));
  }
}

TEST_CASE("a run's end is counted in its session as completed, failed or cancelled") {
  auto flow = plan(kFlow);
  Envelope self = run_envelope();
  self.session = "tenant-a";
  self.node = "n.2.0";
  for (auto [outcome, end] : {std::pair{Result<State>(state_of({})), "completed"},
                              std::pair{Result<State>(fail(errors::cancelled("stop"))), "cancelled"},
                              std::pair{Result<State>(fail(errors::timeout("a", 5))), "failed"}}) {
    OpList ops;
    Planner(*flow).finished(self, "bull:f.a:rr1.n.2.0", outcome, ops);
    const auto argv = argv_of(ops);
    REQUIRE(shape(argv) == std::vector<std::string>{"O reply"});
    CHECK(argv[5] == "tenant-a");
    CHECK(argv[6] == end);
  }
}

TEST_CASE("a run with events: flow:started goes with its first jobs; a group's events travel as one op") {
  auto flow = plan(kFlow);
  Envelope run = run_envelope();
  run.session = "tenant-a";
  run.events = true;
  OpList ops;
  Planner(*flow).start_run(state_of({{"kind", "x"}}), run, ops);
  auto argv = argv_of(ops);
  REQUIRE(shape(argv) == std::vector<std::string>{"G", "A bull:f.a:", "E 1"});
  // processor:started is the worker's, as the step starts (started_event): the job carries none
  CHECK(argv.size() == 1 + 15 + 3);
  CHECK(Json::parse(argv[17 + 1])["event"] == "flow:started");

  // the last step: processor:completed is the worker's; the planner adds flow:completed with
  // the outcome, in the same group, so a group skipped for a lost job publishes neither
  Envelope self = run;
  self.node = "n.2.0";
  OpList end;
  end.begin_group();
  add_run_event(end, self, event::kProcessorCompleted, Json{{"processor", "a"}});
  Planner(*flow).finished(self, "bull:f.a:rr1.n.2.0", state_of({}), end);
  argv = argv_of(end);
  REQUIRE(shape(argv) == std::vector<std::string>{"G", "O reply", "E 2"});
  const std::string joined = argv.back();
  const auto nl = joined.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(joined.find('\n', nl + 1) == std::string::npos);
  CHECK(Json::parse(joined.substr(0, nl))["event"] == "processor:completed");
  const Json last = Json::parse(joined.substr(nl + 1));
  CHECK(last["event"] == "flow:completed");
  CHECK(last["runId"] == "r1");
  CHECK(last["sessionId"] == "tenant-a");
}

TEST_CASE("a continuation planned in a list of its own and appended is the group planned in place") {
  // The worker plans a finished step's continuation on the thread that ran it, then appends it to
  // the call's open group after the finish and the step's own event.
  const char* nested = R"(
version: 1
name: f
processors:
  a: {use: set, with: {values: {a: 1}}}
  b: {use: set, with: {values: {b: 1}}}
flow:
  chain:
    - a
    - parallel:
        - {batch: b, items: .items}
        - b
    - a
)";
  auto flow = plan(nested);
  Envelope self = run_envelope();
  self.events = true;
  self.node = "n.0";
  const State state = state_of({{"items", Json::array({1, 2, 3})}});
  auto finish = [&](OpList& ops) {
    ops.begin_group();
    ops.complete("bull:f.a:", "rr1.n.0", "tok", 1, 1, "{}", "1");
    ops.event(R"({"event":"processor:completed","processor":"a"})");  // no time stamp: both lists alike
  };
  OpList in_place;
  finish(in_place);
  Planner(*flow).finished(self, "bull:f.a:rr1.n.0", state, in_place);
  OpList ahead;
  Planner(*flow).finished(self, "bull:f.a:rr1.n.0", state, ahead);
  OpList appended;
  finish(appended);
  appended.append_open_group(std::move(ahead));
  const auto expected = argv_of(in_place);
  CHECK(argv_of(appended) == expected);
  // the batch's items, then the branch, then the joins inner first, then the events as one op
  CHECK(shape(expected) == std::vector<std::string>{"G", "C bull:f.a:", "A bull:f.b:", "A bull:f.b:", "A bull:f.b:",
                                                    "A bull:f.b:", "A bull:f._join:", "A bull:f._join:", "E 1"});
}

TEST_CASE("a processor's own event is published under its run's ids, whatever it was stamped with") {
  Envelope run = run_envelope();
  run.session = "tenant-a";
  OpList ops;
  add_stamped_event(ops, run, Json{{"event", "custom"}, {"runId", "other"}, {"sessionId", "s9"}, {"n", 1}});
  add_stamped_event(ops, run, Json{{"event", "custom"}, {"runId", "r1"}, {"sessionId", "tenant-a"}, {"n", 2}});
  const auto argv = argv_of(ops);
  REQUIRE(argv.size() == 3);  // E 2 <events>: no group was opened
  const std::string joined = argv[2];
  const auto nl = joined.find('\n');
  const Json first = Json::parse(joined.substr(0, nl));
  CHECK(first["runId"] == "r1");
  CHECK(first["sessionId"] == "tenant-a");
  CHECK(first["n"] == 1);
  CHECK(Json::parse(joined.substr(nl + 1))["n"] == 2);
}

TEST_CASE("a route with no match at the start ends the run at once") {
  auto flow = plan(R"(
version: 1
name: g
flow:
  route: .kind
  cases: {x: {use: set, with: {values: {a: 1}}}}
)");
  OpList ops;
  Planner(*flow).start_run(state_of({{"kind", "y"}}), run_envelope(), ops);
  const auto argv = argv_of(ops);
  REQUIRE(shape(argv) == std::vector<std::string>{"G", "O reply"});
  CHECK(Json::parse(argv[3])["error"]["code"] == "ROUTE_NOT_FOUND");
}

TEST_CASE("an empty batch completes without jobs; a batch adds one job per item") {
  auto flow = plan(R"(
version: 1
name: h
processors:
  p: {use: set, with: {values: {done: true}}}
flow:
  batch: p
  items: .xs
)");
  OpList empty;
  Planner(*flow).start_run(state_of({{"xs", Json::array()}}), run_envelope(), empty);
  auto argv = argv_of(empty);
  REQUIRE(shape(argv) == std::vector<std::string>{"G", "O reply"});
  CHECK(Json::parse(argv[3])["state"]["batch"]["counts"]["total"] == 0);

  OpList three;
  Planner(*flow).start_run(state_of({{"xs", {1, 2, 3}}}), run_envelope(), three);
  argv = argv_of(three);
  CHECK(shape(argv) == std::vector<std::string>{"G", "A bull:h.p:", "A bull:h.p:", "A bull:h.p:", "A bull:h._join:"});
  CHECK(std::count(argv.begin(), argv.end(), "rr1.n.0~2") == 1);  // item 2's job id
}

TEST_CASE("a batch inside a batch reads each child's item from the scope beyond its own") {
  auto flow = plan(R"(
version: 1
name: k
processors:
  p: {use: set, with: {values: {done: true}}}
flow:
  batch:
    batch: p
    items: .ys
    mode: collect
  items: .xs
  mode: collect
)");
  Envelope self = run_envelope();
  self.node = "n.0";  // the inner batch, running for outer item 3
  self.scope = "3";
  State base = state_of({{"ys", {1, 2}}});
  Planner::ChildValues ok{{"bull:k.p:rr1.n.0.0~3.1", state_of({{"item", 2}, {"done", true}}).to_json().dump()}};
  Planner::ChildValues failed{{"bull:k.p:rr1.n.0.0~3.0", "refused"}};
  auto out = Planner(*flow).settle_join(self, base, ok, failed, {});
  REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  CHECK(out->data["batch"]["results"] == Json{nullptr, {{"item", 2}, {"done", true}}});
  CHECK(out->data["batch"]["errors"][0]["index"] == 0);
  CHECK(out->data["batch"]["errors"][0]["error"]["message"].get<std::string>().ends_with("refused"));
}

}  // namespace planner_test
