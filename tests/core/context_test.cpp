// Context: identity, execution ids and nested calls by name (ctx.call) with a depth limit.
#include <doctest/doctest.h>

#include <mutex>
#include <regex>
#include <set>

#include "tests/core/test_support.hpp"

using namespace am2z;

namespace {

std::shared_ptr<Flow> flow_with(NodePtr root, std::map<std::string, NodePtr, std::less<>> callables) {
  auto f = test::flow_of(std::move(root));
  f->callables = std::move(callables);
  return f;
}

RunOutcome run(const std::shared_ptr<Flow>& f, Json data = Json::object(), RunOptions opts = {}) {
  if (!opts.logger) opts.logger = test::quiet_logger();
  return run_flow(f, State::create("s1", std::move(data)), opts);
}

/// Calls `name` on the state and keeps the result.
test::Fn caller(const std::string& name) {
  return [name](State& s, Context& ctx) -> Status {
    auto r = ctx.call(name, s);
    if (!r) return fail(std::move(r.error()));
    s = std::move(*r);
    return {};
  };
}

}  // namespace

TEST_CASE("ctx.call runs a named processor on a state and returns the result") {
  auto doubler = test::leaf("double", [](State& s, Context& ctx) -> Status {
    s.data["count"] = s.data.value("count", 0) * 2;
    s.data["depthInside"] = ctx.call_depth();
    return {};
  });
  auto f = flow_with(test::leaf("main", caller("double")), {{"double", doubler}});
  RunOutcome out = run(f, Json{{"count", 21}});
  REQUIRE(out.ok());
  CHECK(out.state.data["count"] == 42);
  CHECK(out.state.data["depthInside"] == 1);
  CHECK(out.state.meta.version == 3);  // the called step and the calling step
}

TEST_CASE("ctx.call can run a sub-flow") {
  auto sub = std::make_shared<ChainNode>(
      "sub", std::vector<NodePtr>{test::leaf("p1", test::add(1)), test::leaf("p10", test::add(10))});
  auto f = flow_with(test::leaf("main", caller("sub")), {{"sub", sub}});
  RunOutcome out = run(f, Json{{"count", 0}});
  REQUIRE(out.ok());
  CHECK(out.state.data["count"] == 11);
}

TEST_CASE("ctx.call on a copy leaves the caller's state alone") {
  auto f = flow_with(test::leaf("main",
                                [](State& s, Context& ctx) -> Status {
                                  auto r = ctx.call("inc", s);
                                  if (!r) return fail(std::move(r.error()));
                                  s.data["fromCall"] = (*r).data["count"];
                                  return {};
                                }),
                     {{"inc", test::leaf("inc", test::add(1))}});
  RunOutcome out = run(f, Json{{"count", 5}});
  REQUIRE(out.ok());
  CHECK(out.state.data["count"] == 5);
  CHECK(out.state.data["fromCall"] == 6);
}

TEST_CASE("a failing call returns the callee's error with its partial state") {
  auto f =
      flow_with(test::leaf("main", caller("broken")), {{"broken", test::leaf("broken", [](State&, Context&) -> Status {
                                                          return fail(errors::business("NO", "refused"));
                                                        })}});
  RunOutcome out = run(f, Json{{"count", 1}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "NO");
  CHECK(out.error->context["failedProcessor"] == "broken");
  REQUIRE(out.error->partial_state != nullptr);
  CHECK((*out.error->partial_state)["count"] == 1);
}

TEST_CASE("an unknown name is ProcessorNotFoundError listing the available names") {
  auto f = flow_with(test::leaf("main", caller("nope")),
                     {{"alpha", test::leaf("alpha", test::add(1))}, {"beta", test::leaf("beta", test::add(1))}});
  RunOutcome out = run(f);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->name == "ProcessorNotFoundError");
  CHECK(out.error->code == "PROCESSOR_NOT_FOUND");
  CHECK(out.error->message == "Processor 'nope' not found. Available: alpha, beta");
  CHECK(out.error->context["processorName"] == "nope");
}

TEST_CASE("recursion stops with CallDepthExceededError at max_call_depth") {
  auto depths = std::make_shared<std::vector<int>>();
  auto f = test::flow_of(nullptr);
  // `rec` calls itself by name, one level deeper each time.
  auto rec = test::leaf("rec", [depths](State& s, Context& ctx) -> Status {
    depths->push_back(ctx.call_depth());
    auto r = ctx.call("rec", s);
    if (!r) return fail(std::move(r.error()));
    s = std::move(*r);
    return {};
  });
  f->root = rec;
  f->callables["rec"] = rec;

  SUBCASE("a small limit") {
    RunOptions opts;
    opts.max_call_depth = 4;
    RunOutcome out = run(f, Json::object(), opts);
    REQUIRE_FALSE(out.ok());
    CHECK(out.error->name == "CallDepthExceededError");
    CHECK(out.error->code == "CALL_DEPTH_EXCEEDED");
    CHECK(out.error->message == "Maximum call depth exceeded: 4 >= 4");
    CHECK(out.error->context["maxDepth"] == 4);
    CHECK(out.error->context["currentDepth"] == 4);
    CHECK(*depths == std::vector<int>{0, 1, 2, 3, 4});
  }
  SUBCASE("the default limit is 10") {
    RunOutcome out = run(f);
    REQUIRE_FALSE(out.ok());
    CHECK(out.error->code == "CALL_DEPTH_EXCEEDED");
    CHECK(depths->size() == 11);
    CHECK(depths->back() == 10);
  }
}

TEST_CASE("identity: run id, session id, processor name, execution id") {
  auto ids = std::make_shared<std::vector<std::string>>();
  auto seen = std::make_shared<std::vector<std::string>>();
  auto record = [ids, seen](State&, Context& ctx) -> Status {
    ids->push_back(ctx.execution_id());
    seen->push_back(std::string(ctx.processor_name()) + "|" + ctx.run_id() + "|" + ctx.session_id());
    return {};
  };
  auto root = std::make_shared<ChainNode>(
      "c", std::vector<NodePtr>{test::leaf("one", record), test::leaf("two", record), test::leaf("three", record)});
  RunOutcome out = test::run(root);
  REQUIRE(out.ok());
  const std::regex id_format("[0-9a-f]{16}");
  CHECK(std::regex_match(out.run_id, id_format));
  REQUIRE(ids->size() == 3);
  const std::set<std::string> distinct(ids->begin(), ids->end());
  CHECK(distinct.size() == 3);
  for (const auto& id : *ids) {
    CAPTURE(id);
    CHECK(std::regex_match(id, std::regex("[0-9a-f]{16}/[0-9]+")));
    CHECK(id.rfind(out.run_id + "/", 0) == 0);
  }
  CHECK((*seen)[0] == "one|" + out.run_id + "|s1");
  CHECK((*seen)[2] == "three|" + out.run_id + "|s1");

  // Two runs have different run ids.
  RunOutcome again = test::run(root);
  CHECK(again.run_id != out.run_id);
}

TEST_CASE("the session id comes from the options, else the input, else is generated") {
  auto f = test::flow_of(test::leaf("p", test::add(1)));
  RunOptions opts;
  opts.session_id = "from-options";
  CHECK(run_flow(f, State::create("from-input"), opts).state.meta.session_id == "from-options");
  CHECK(run_flow(f, State::create("from-input"), {}).state.meta.session_id == "from-input");
  RunOutcome generated = run_flow(f, State::create(""), {});
  CHECK(generated.state.meta.session_id == "session-" + generated.run_id);
}

TEST_CASE("new_run_id gives 16 hex characters, different each time") {
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    const std::string id = new_run_id();
    CHECK(std::regex_match(id, std::regex("[0-9a-f]{16}")));
    ids.insert(id);
  }
  CHECK(ids.size() == 50);
}
