// ChainNode: steps in order on the previous step's output; stops at the first failure.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>

#include "tests/core/test_support.hpp"

using namespace am2z;

namespace {

test::Fn times(int factor) {
  return [factor](State& s, Context&) -> Status {
    s.data["count"] = s.data.value("count", 0) * factor;
    return {};
  };
}

test::Fn failing(const std::string& why) {
  return
      [why](State&, Context& ctx) -> Status { return fail(errors::execution(std::string(ctx.processor_name()), why)); };
}

NodePtr chain(const std::string& label, std::vector<NodePtr> steps) {
  return std::make_shared<ChainNode>(label, std::move(steps));
}

}  // namespace

TEST_CASE("[+1, x2, +10] on 5 gives 22") {
  RunOutcome out = test::run(chain("calc", {test::leaf("plus1", test::add(1)), test::leaf("times2", times(2)),
                                            test::leaf("plus10", test::add(10))}),
                             Json{{"count", 5}});
  REQUIRE(out.ok());
  CHECK(out.state.data["count"] == 22);
  CHECK(out.state.meta.version == 4);  // one bump per successful step
  CHECK(out.state.meta.session_id == "s1");
}

TEST_CASE("order matters: [x2, +1] differs from [+1, x2]") {
  RunOutcome a = test::run(chain("a", {test::leaf("t", times(2)), test::leaf("p", test::add(1))}), Json{{"count", 5}});
  RunOutcome b = test::run(chain("b", {test::leaf("p", test::add(1)), test::leaf("t", times(2))}), Json{{"count", 5}});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a.state.data["count"] == 11);
  CHECK(b.state.data["count"] == 12);
}

TEST_CASE("an empty chain passes the state through unchanged") {
  RunOutcome out = test::run(chain("empty", {}), Json{{"count", 5}});
  REQUIRE(out.ok());
  CHECK(out.state.data == Json{{"count", 5}});
  CHECK(out.state.meta.version == 1);
}

TEST_CASE("stops at the first failure and reports where") {
  auto ran_after = std::make_shared<std::atomic<int>>(0);
  RunOutcome out = test::run(chain("pipeline", {test::leaf("plus1", test::add(1)), test::leaf("times2", times(2)),
                                                test::leaf("broken", failing("disk full")),
                                                test::leaf("never",
                                                           [ran_after](State&, Context&) -> Status {
                                                             ++*ran_after;
                                                             return {};
                                                           })}),
                             Json{{"count", 5}});
  REQUIRE_FALSE(out.ok());
  CHECK(*ran_after == 0);
  const Error& e = *out.error;
  CHECK(e.code == "PROCESSOR_EXECUTION_FAILED");
  CHECK(e.message == "Processor 'broken' execution failed: disk full");
  CHECK(e.context["failedProcessor"] == "broken");
  CHECK(e.context["completedSteps"] == 2);
  CHECK(e.context["totalSteps"] == 4);
  CHECK(e.context["chain"] == "pipeline");

  // The outcome state is the state before the failing step, with one version bump per step done.
  CHECK(out.state.data["count"] == 12);
  CHECK(out.state.meta.version == 3);

  // ...and so is the error's partial state, metadata included.
  REQUIRE(e.partial_state != nullptr);
  CHECK((*e.partial_state)["count"] == 12);
  CHECK((*e.partial_state)["metadata"]["version"] == 3);
  CHECK((*e.partial_state)["metadata"]["sessionId"] == "s1");
  CHECK(*e.partial_state == out.state.to_json());
  CHECK(e.to_json()["partialState"]["count"] == 12);
}

TEST_CASE("a failing first step leaves the input untouched") {
  RunOutcome out = test::run(chain("c", {test::leaf("bad", failing("nope")), test::leaf("plus1", test::add(1))}),
                             Json{{"count", 5}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->context["completedSteps"] == 0);
  CHECK(out.state.data == Json{{"count", 5}});
  CHECK(out.state.meta.version == 1);
}

TEST_CASE("in nested chains the innermost chain records the progress") {
  RunOutcome out =
      test::run(chain("outer", {test::leaf("a", test::add(1)),
                                chain("inner", {test::leaf("b", test::add(1)), test::leaf("c", test::add(1)),
                                                test::leaf("boom", failing("x"))}),
                                test::leaf("d", test::add(100))}),
                Json{{"count", 0}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->context["chain"] == "inner");
  CHECK(out.error->context["completedSteps"] == 2);
  CHECK(out.error->context["totalSteps"] == 3);
  CHECK(out.error->context["failedProcessor"] == "boom");
  CHECK(out.state.data["count"] == 3);
  CHECK(out.state.meta.version == 4);
}

TEST_CASE("a business error passes through with its own code") {
  RunOutcome out = test::run(chain("c", {test::leaf("check", [](State&, Context&) -> Status {
                                     return fail(errors::business("OUT_OF_STOCK", "no stock", Severity::high));
                                   })}));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->name == "BusinessError");
  CHECK(out.error->code == "OUT_OF_STOCK");
  CHECK(out.error->severity == Severity::high);
  CHECK(out.error->context["failedProcessor"] == "check");
}

TEST_CASE("each step sees the previous step's output") {
  auto seen = std::make_shared<std::vector<Json>>();
  auto record = [seen](State& s, Context&) -> Status {
    seen->push_back(s.data);
    s.data["trail"].push_back(s.meta.version);
    return {};
  };
  RunOutcome out =
      test::run(chain("c", {test::leaf("r1", record), test::leaf("r2", record), test::leaf("r3", record)}));
  REQUIRE(out.ok());
  REQUIRE(seen->size() == 3);
  CHECK((*seen)[0] == Json::object());
  CHECK((*seen)[1] == Json{{"trail", {1}}});
  CHECK((*seen)[2] == Json{{"trail", {1, 2}}});
  CHECK(out.state.data["trail"] == Json::array({1, 2, 3}));
}
