// Merge strategies for parallel branch outputs, directly and through a ParallelNode.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "tests/core/test_support.hpp"

using namespace am2z;
using namespace std::chrono_literals;

namespace {

Json merge(const Json& base, std::vector<Json> outputs, MergeStrategy s) { return merge_branches(base, outputs, s); }

/// A branch that waits `delay` (cancellably) and then appends `item` to .list.
NodePtr appender(const std::string& item, Millis delay) {
  return test::leaf("append-" + item, [item, delay](State& s, Context& ctx) -> Status {
    ctx.cancel_token().wait_for(delay);
    s.data["list"].push_back(item);
    return {};
  });
}

}  // namespace

TEST_CASE("strategy names") {
  CHECK(parse_merge_strategy("deep") == MergeStrategy::deep);
  CHECK(parse_merge_strategy("shallow") == MergeStrategy::shallow);
  CHECK(parse_merge_strategy("last-wins") == MergeStrategy::last_wins);
  CHECK_FALSE(parse_merge_strategy("last_wins").has_value());
  CHECK_FALSE(parse_merge_strategy("").has_value());
  CHECK(to_string(MergeStrategy::deep) == "deep");
  CHECK(to_string(MergeStrategy::shallow) == "shallow");
  CHECK(to_string(MergeStrategy::last_wins) == "last-wins");
}

TEST_CASE("no outputs: the base is kept") {
  const Json base{{"a", 1}};
  for (auto s : {MergeStrategy::deep, MergeStrategy::shallow, MergeStrategy::last_wins}) {
    CHECK(merge(base, {}, s) == base);
  }
}

TEST_CASE("deep: array appends of every branch are kept in declaration order") {
  const Json base{{"list", Json::array()}};
  CHECK(merge(base, {{{"list", {"A"}}}, {{"list", {"B"}}}, {{"list", {"C"}}}}, MergeStrategy::deep) ==
        Json{{"list", {"A", "B", "C"}}});

  // Appends after existing items; a branch that appended nothing adds nothing.
  const Json base2{{"list", {"x"}}};
  CHECK(merge(base2, {{{"list", {"x", "A"}}}, {{"list", {"x"}}}, {{"list", {"x", "B", "C"}}}}, MergeStrategy::deep) ==
        Json{{"list", {"x", "A", "B", "C"}}});

  // Arrays that did not exist before are concatenated too.
  CHECK(merge(Json::object(), {{{"tags", {"a"}}}, {{"tags", {"b"}}}}, MergeStrategy::deep) ==
        Json{{"tags", {"a", "b"}}});
}

TEST_CASE("deep: through a parallel node the order is declaration order, not finishing order") {
  // C finishes first and A last; the result is still [A, B, C].
  auto par = std::make_shared<ParallelNode>(
      "fan", std::vector<NodePtr>{appender("A", 120ms), appender("B", 60ms), appender("C", 0ms)}, MergeStrategy::deep);
  RunOutcome out = test::run(par, Json{{"list", Json::array()}});
  REQUIRE(out.ok());
  CHECK(out.state.data["list"] == Json::array({"A", "B", "C"}));
}

TEST_CASE("deep: nested objects are merged key by key") {
  const Json base{{"cfg", {{"a", 1}, {"deep", {{"x", 1}}}}}, {"other", true}};
  const Json got = merge(base,
                         {{{"cfg", {{"a", 1}, {"b", 2}, {"deep", {{"x", 1}, {"y", 2}}}}}, {"other", true}},
                          {{"cfg", {{"a", 1}, {"c", 3}, {"deep", {{"x", 1}, {"z", 3}}}}}, {"other", true}}},
                         MergeStrategy::deep);
  CHECK(got ==
        Json{{"cfg", {{"a", 1}, {"b", 2}, {"c", 3}, {"deep", {{"x", 1}, {"y", 2}, {"z", 3}}}}}, {"other", true}});

  // New objects added by two branches under the same key are merged as well.
  CHECK(merge(Json::object(), {{{"r", {{"one", 1}}}}, {{"r", {{"two", 2}}}}}, MergeStrategy::deep) ==
        Json{{"r", {{"one", 1}, {"two", 2}}}});
}

TEST_CASE("deep: a scalar changed by several branches takes the later branch's value") {
  const Json base{{"x", 1}, {"nested", {{"s", "old"}}}};
  CHECK(merge(base, {{{"x", 2}, {"nested", {{"s", "b0"}}}}, {{"x", 3}, {"nested", {{"s", "b1"}}}}},
              MergeStrategy::deep) == Json{{"x", 3}, {"nested", {{"s", "b1"}}}});
  // A branch that left the value as it was does not undo an earlier branch's change.
  CHECK(merge(base, {{{"x", 2}, {"nested", {{"s", "new"}}}}, base}, MergeStrategy::deep) ==
        Json{{"x", 2}, {"nested", {{"s", "new"}}}});
  CHECK(merge(base, {base, {{"x", 9}, {"nested", {{"s", "old"}}}}}, MergeStrategy::deep) ==
        Json{{"x", 9}, {"nested", {{"s", "old"}}}});
}

TEST_CASE("deep: a key removed by a branch is removed") {
  const Json base{{"keep", 1}, {"drop", 2}, {"obj", {{"k", 1}, {"gone", 2}}}};
  const Json removed{{"keep", 1}, {"obj", {{"k", 1}}}};
  CHECK(merge(base, {removed, base}, MergeStrategy::deep) == Json{{"keep", 1}, {"obj", {{"k", 1}}}});
  CHECK(merge(base, {base, removed}, MergeStrategy::deep) == Json{{"keep", 1}, {"obj", {{"k", 1}}}});
}

TEST_CASE("deep: every branch's additions survive alongside changes and removals") {
  const Json base{{"n", 0}, {"tmp", true}, {"list", Json::array()}};
  const Json got = merge(base,
                         {{{"n", 0}, {"tmp", true}, {"list", {"A"}}, {"a", 1}},
                          {{"n", 5}, {"list", Json::array()}},
                          {{"n", 0}, {"tmp", true}, {"list", {"C"}}, {"c", 3}}},
                         MergeStrategy::deep);
  CHECK(got == Json{{"n", 5}, {"list", {"A", "C"}}, {"a", 1}, {"c", 3}});
}

TEST_CASE("shallow: changed top-level keys are taken whole, later branches win") {
  const Json base{{"cfg", {{"a", 1}}}, {"list", {"x"}}, {"same", 0}, {"drop", 1}};
  const Json got = merge(base,
                         {{{"cfg", {{"a", 1}, {"b", 2}}}, {"list", {"x", "A"}}, {"same", 7}, {"drop", 1}},
                          {{"cfg", {{"a", 1}, {"c", 3}}}, {"list", {"x", "B"}}, {"same", 0}, {"drop", 1}},
                          {{"cfg", {{"a", 1}}}, {"list", {"x"}}, {"same", 0}}},
                         MergeStrategy::shallow);
  // cfg and list: branch 1's value replaces branch 0's (no deep merge, no concatenation);
  // same: only branch 0 changed it; drop: removed by branch 2.
  CHECK(got == Json{{"cfg", {{"a", 1}, {"c", 3}}}, {"list", {"x", "B"}}, {"same", 7}});
}

TEST_CASE("last-wins: the last branch's output, as it is") {
  const Json base{{"a", 1}, {"b", 2}};
  CHECK(merge(base, {{{"a", 10}, {"b", 2}, {"c", 3}}, {{"z", true}}}, MergeStrategy::last_wins) == Json{{"z", true}});
}

TEST_CASE("the strategy of a parallel node is applied to its branches") {
  auto set = [](const std::string& key, int v) {
    return test::leaf("set-" + key, [key, v](State& s, Context&) -> Status {
      s.data["obj"][key] = v;
      return {};
    });
  };
  const Json input{{"obj", {{"base", 0}}}};
  {
    auto par = std::make_shared<ParallelNode>("p", std::vector<NodePtr>{set("a", 1), set("b", 2)}, MergeStrategy::deep);
    RunOutcome out = test::run(par, input);
    REQUIRE(out.ok());
    CHECK(out.state.data["obj"] == Json{{"base", 0}, {"a", 1}, {"b", 2}});
  }
  {
    auto par =
        std::make_shared<ParallelNode>("p", std::vector<NodePtr>{set("a", 1), set("b", 2)}, MergeStrategy::shallow);
    RunOutcome out = test::run(par, input);
    REQUIRE(out.ok());
    CHECK(out.state.data["obj"] == Json{{"base", 0}, {"b", 2}});
  }
}
