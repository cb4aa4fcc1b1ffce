// Each kind's distributed behaviour, seen through a DistributedPlan that records its one call.
#include <doctest/doctest.h>

#include "tests/core/test_support.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace distributed_test {

using namespace am2z;

namespace {

/// Records what a kind chose for one event.
class RecordingPlan final : public DistributedPlan {
 public:
  void run_as_job(const State& state) override { record("job", state); }
  void start_child(std::size_t child, State state) override { record("child " + std::to_string(child), state); }
  void fan_out(const State& state, std::vector<Branch> b) override {
    record("fan-out", state);
    branches = std::move(b);
  }
  void finish(Result<State> outcome) override { record("finish", std::move(outcome)); }
  void deliver(Result<State> outcome) override { record("deliver", std::move(outcome)); }

  std::vector<std::string> calls;
  Result<State> last;
  std::vector<Branch> branches;

 private:
  void record(std::string call, Result<State> value) {
    calls.push_back(std::move(call));
    last = std::move(value);
  }
};

State state_of(Json data) {
  State s;
  s.data = std::move(data);
  return s;
}

NodePtr noop(const std::string& name) {
  return test::leaf(name, [](State&, Context&) -> Status { return {}; });
}

JsonPath path(std::string_view text) { return *JsonPath::parse(text); }

JoinChild child(long long branch, long long item, Result<State> result) {
  JoinChild c;
  c.key = "k" + std::to_string(branch) + "/" + std::to_string(item);
  c.child = branch;
  c.item = item;
  c.result = std::move(result);
  return c;
}

/// Children handed over from a list, in its order.
class Listed final : public JoinChildren {
 public:
  explicit Listed(std::vector<JoinChild> kids) : kids_(std::move(kids)) {}
  std::optional<JoinChild> next() override {
    if (at_ == kids_.size()) return std::nullopt;
    return std::move(kids_[at_++]);
  }

 private:
  std::vector<JoinChild> kids_;
  std::size_t at_ = 0;
};

}  // namespace

TEST_CASE("a processor runs as one job; its end ends its parent's child") {
  RecordingPlan plan;
  noop("a")->plan_start(state_of({{"x", 1}}), plan);
  CHECK(plan.calls == std::vector<std::string>{"job"});
}

TEST_CASE("a chain starts its first step, moves on step by step and records how far a failure got") {
  ChainNode chain("c", {noop("a"), noop("b")});
  RecordingPlan plan;
  chain.plan_start(state_of({}), plan);
  chain.plan_child_end(0, state_of({{"a", 1}}), plan);
  chain.plan_child_end(1, state_of({{"b", 1}}), plan);
  chain.plan_child_end(1, fail(errors::business("NO", "refused")), plan);
  CHECK(plan.calls == std::vector<std::string>{"child 0", "child 1", "finish", "finish"});
  REQUIRE_FALSE(plan.last);
  CHECK(plan.last.error().context["completedSteps"] == 1);
  CHECK(plan.last.error().context["totalSteps"] == 2);

  RecordingPlan empty;
  ChainNode("e", {}).plan_start(state_of({{"x", 1}}), empty);
  CHECK(empty.calls == std::vector<std::string>{"finish"});
}

TEST_CASE("a route starts the selected target by its child index; no match ends it with its input") {
  RouteNode route("r", path(".kind"), {{"x", noop("a")}, {"y", noop("b")}}, nullptr);
  RecordingPlan plan;
  route.plan_start(state_of({{"kind", "y"}}), plan);
  route.plan_start(state_of({{"kind", "z"}}), plan);
  CHECK(plan.calls == std::vector<std::string>{"child 1", "finish"});
  REQUIRE_FALSE(plan.last);
  CHECK(plan.last.error().code == "ROUTE_NOT_FOUND");
  REQUIRE(plan.last.error().partial_state);
  CHECK(plan.last.error().partial_state->at("kind") == "z");
}

TEST_CASE("a parallel fans out one branch per child, delivers their ends and merges them in order") {
  ParallelNode par("p", {noop("a"), noop("b")}, MergeStrategy::deep);
  RecordingPlan plan;
  par.plan_start(state_of({{"x", 1}}), plan);
  REQUIRE(plan.branches.size() == 2);
  CHECK(plan.branches[1].child == 1);
  CHECK_FALSE(plan.branches[1].item);
  par.plan_child_end(1, state_of({{"b", 1}}), plan);
  CHECK(plan.calls == std::vector<std::string>{"fan-out", "deliver"});

  std::vector<JoinChild> kids;
  kids.push_back(child(1, -1, state_of({{"x", 1}, {"b", 1}})));
  kids.push_back(child(0, -1, state_of({{"x", 1}, {"a", 1}})));
  Listed kids_in(std::move(kids));
  auto merged = par.settle_join(state_of({{"x", 1}}), kids_in, "n.1");
  REQUIRE(merged);
  CHECK(merged->data == Json{{"x", 1}, {"a", 1}, {"b", 1}});

  std::vector<JoinChild> one;
  one.push_back(child(0, -1, state_of({{"a", 1}})));
  Listed one_in(std::move(one));
  auto missing = par.settle_join(state_of({{"x", 1}}), one_in, "n.1");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("branch 1 never reported") != std::string::npos);
  CHECK(missing.error().partial_state);
}

TEST_CASE("a batch fans out one item scope per payload and settles by item index, not child") {
  BatchSpec spec;
  spec.items_path = path(".xs");
  spec.mode = BatchMode::collect;
  BatchNode batch("b", noop("t"), spec);
  RecordingPlan plan;
  batch.plan_start(state_of({{"xs", {10, 20}}}), plan);
  REQUIRE(plan.branches.size() == 2);
  CHECK(plan.branches[1].child == 0);
  CHECK(plan.branches[1].item == 1);
  CHECK(plan.branches[1].state.data == Json{{"item", 20}});

  std::vector<JoinChild> kids;
  kids.push_back(child(0, 1, fail(errors::business("NO", "refused"))));
  kids.push_back(child(0, 0, state_of({{"item", 10}, {"ok", true}})));
  Listed kids_in(std::move(kids));
  auto settled = batch.settle_join(state_of({{"xs", {10, 20}}}), kids_in, "n");
  REQUIRE(settled);
  CHECK(settled->data["batch"]["counts"] == Json{{"total", 2}, {"succeeded", 1}, {"failed", 1}});
  CHECK(settled->data["batch"]["errors"][0]["index"] == 1);

  std::vector<JoinChild> stray;
  stray.push_back(child(0, -1, state_of({})));
  Listed stray_in(std::move(stray));
  auto refused = batch.settle_join(state_of({{"xs", {10}}}), stray_in, "n");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("is not a branch of this join") != std::string::npos);

  RecordingPlan bad;
  batch.plan_start(state_of({{"xs", "no"}}), bad);
  CHECK(bad.calls == std::vector<std::string>{"finish"});
  REQUIRE_FALSE(bad.last);
  CHECK(bad.last.error().partial_state);
}

TEST_CASE("a join places a child that comes twice once, and fail-fast reports the lowest failed item") {
  BatchSpec spec;
  spec.items_path = path(".xs");
  BatchNode batch("b", noop("t"), spec);  // fail-fast
  std::vector<JoinChild> kids;
  kids.push_back(child(0, 2, fail(errors::business("LATE", "item 2"))));
  kids.push_back(child(0, 0, state_of({{"item", 1}})));
  kids.push_back(child(0, 1, fail(errors::business("FIRST", "item 1"))));
  kids.push_back(child(0, 0, state_of({{"item", 1}})));  // a scan's repeat
  Listed in(std::move(kids));
  auto failed = batch.settle_join(state_of({{"xs", {1, 2, 3}}}), in, "n");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == "FIRST");
  CHECK(failed.error().context["index"] == 1);

  spec.mode = BatchMode::collect;
  BatchNode collecting("b", noop("t"), spec);
  std::vector<JoinChild> again;
  for (int i : {1, 0, 1, 2}) again.push_back(child(0, i, state_of({{"item", i}, {"done", true}})));
  Listed again_in(std::move(again));
  auto settled = collecting.settle_join(state_of({{"xs", {0, 1, 2}}}), again_in, "n");
  REQUIRE(settled);
  CHECK(settled->data["batch"]["counts"] == Json{{"total", 3}, {"succeeded", 3}, {"failed", 0}});
  CHECK(settled->data["batch"]["results"][2] == Json{{"item", 2}, {"done", true}});
}

}  // namespace distributed_test
