// ParallelNode: concurrent branches on copies of one input; all-or-nothing; merged results.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "tests/core/test_support.hpp"

using namespace am2z;
using namespace std::chrono_literals;

namespace {

NodePtr parallel(std::vector<NodePtr> branches, MergeStrategy merge = MergeStrategy::deep) {
  return std::make_shared<ParallelNode>("fan-out", std::move(branches), merge);
}

NodePtr set_key(const std::string& key, Json value) {
  return test::leaf("set-" + key, [key, value](State& s, Context&) -> Status {
    s.data[key] = value;
    return {};
  });
}

NodePtr fail_after(const std::string& name, Millis delay) {
  return test::leaf(name, [delay](State&, Context& ctx) -> Status {
    std::this_thread::sleep_for(delay);
    return fail(
        errors::execution(std::string(ctx.processor_name()), "failed after " + std::to_string(delay.count()) + "ms"));
  });
}

}  // namespace

TEST_CASE("branches really run at the same time") {
  auto threads = std::make_shared<std::set<std::thread::id>>();
  auto mutex = std::make_shared<std::mutex>();
  std::vector<NodePtr> branches;
  for (int i = 0; i < 5; ++i) {
    branches.push_back(test::leaf("sleep" + std::to_string(i), [=](State& s, Context& ctx) -> Status {
      {
        std::lock_guard lock(*mutex);
        threads->insert(std::this_thread::get_id());
      }
      s.data["done" + std::to_string(i)] = !ctx.cancel_token().wait_for(100ms);
      return {};
    }));
  }
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(parallel(std::move(branches)));
  const auto took = test::ms_since(t0);
  REQUIRE(out.ok());
  CHECK(took >= 90);
  CHECK(took < 350);  // one after the other would take 500ms
  CHECK(threads->size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(out.state.data["done" + std::to_string(i)] == true);
}

TEST_CASE("instant branches run on the parallel's own thread; the others still all run at once") {
  auto mutex = std::make_shared<std::mutex>();
  auto instant_threads = std::make_shared<std::set<std::thread::id>>();
  auto caller = std::make_shared<std::thread::id>();
  auto arrived = std::make_shared<std::atomic<int>>(0);
  std::vector<NodePtr> branches;
  for (int i = 0; i < 3; ++i) {
    branches.push_back(test::instant_leaf("instant" + std::to_string(i), [=](State& s, Context&) -> Status {
      std::lock_guard lock(*mutex);
      instant_threads->insert(std::this_thread::get_id());
      s.data["instant" + std::to_string(i)] = true;
      return {};
    }));
    // A rendezvous: each blocking branch waits for the other two, which only works if all three
    // run at the same time (it gives up after 10 s, and says so).
    branches.push_back(test::leaf("blocking" + std::to_string(i), [=](State& s, Context&) -> Status {
      arrived->fetch_add(1);
      const auto until = SteadyClock::now() + 10s;
      while (arrived->load() < 3 && SteadyClock::now() < until) std::this_thread::sleep_for(1ms);
      s.data["met" + std::to_string(i)] = arrived->load() >= 3;
      return {};
    }));
  }
  auto record_caller = test::leaf("caller", [=](State&, Context&) -> Status {
    *caller = std::this_thread::get_id();
    return {};
  });
  RunOutcome out = test::run(std::make_shared<ChainNode>("c", std::vector<NodePtr>{record_caller, parallel(branches)}));
  REQUIRE(out.ok());
  CHECK(*instant_threads == std::set<std::thread::id>{*caller});
  for (int i = 0; i < 3; ++i) {
    CHECK(out.state.data["instant" + std::to_string(i)] == true);
    CHECK(out.state.data["met" + std::to_string(i)] == true);
  }
}

TEST_CASE("a node is instant only when it cannot block: an instant processor without policy, or a chain of them") {
  auto noop = [](State&, Context&) -> Status { return {}; };
  CHECK(test::instant_leaf("a", noop)->instant());
  CHECK_FALSE(test::leaf("b", noop)->instant());
  StepPolicy retried;
  retried.retry.attempts = 3;  // a retry's backoff sleeps
  CHECK_FALSE(test::instant_leaf("c", noop, retried)->instant());
  StepPolicy timed;
  timed.timeout = Millis(50);
  CHECK_FALSE(test::instant_leaf("d", noop, timed)->instant());
  CHECK(ChainNode("e", {test::instant_leaf("e1", noop), test::instant_leaf("e2", noop)}).instant());
  CHECK_FALSE(ChainNode("f", {test::instant_leaf("f1", noop), test::leaf("f2", noop)}).instant());
  CHECK_FALSE(parallel({test::instant_leaf("g1", noop)})->instant());  // a parallel is never run inline whole
}

TEST_CASE("every branch gets the same input, unaffected by its siblings") {
  auto seen = std::make_shared<std::vector<Json>>(3);
  auto versions = std::make_shared<std::vector<std::int64_t>>(3);
  std::vector<NodePtr> branches;
  for (std::size_t i = 0; i < 3; ++i) {
    branches.push_back(test::leaf("b" + std::to_string(i), [=](State& s, Context& ctx) -> Status {
      ctx.cancel_token().wait_for(Millis(20 * static_cast<int>(i)));  // later branches read later
      (*seen)[i] = s.data;
      (*versions)[i] = s.meta.version;
      s.data["x"] = 100 + static_cast<int>(i);  // would leak into later branches if they shared state
      s.data["list"].push_back(i);
      return {};
    }));
  }
  RunOutcome out = test::run(parallel(std::move(branches)), Json{{"x", 1}, {"list", Json::array()}});
  REQUIRE(out.ok());
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK((*seen)[i] == Json{{"x", 1}, {"list", Json::array()}});
    CHECK((*versions)[i] == 1);
  }
  CHECK(out.state.data["x"] == 102);  // deep merge: the last branch's change wins
  CHECK(out.state.data["list"] == Json::array({0, 1, 2}));
}

TEST_CASE("results of all branches are merged") {
  RunOutcome out = test::run(parallel({set_key("a", 1), set_key("b", "two"), set_key("c", Json{{"three", 3}})}),
                             Json{{"input", true}});
  REQUIRE(out.ok());
  CHECK(out.state.data == Json{{"input", true}, {"a", 1}, {"b", "two"}, {"c", {{"three", 3}}}});
}

TEST_CASE("all-or-nothing: one failing branch discards every branch's output") {
  auto finished = std::make_shared<std::atomic<int>>(0);
  auto slow_ok = test::leaf("slow-ok", [finished](State& s, Context& ctx) -> Status {
    ctx.cancel_token().wait_for(80ms);
    s.data["slow"] = true;
    ++*finished;
    return {};
  });
  RunOutcome out = test::run(parallel({set_key("a", 1), fail_after("bad", 0ms), slow_ok}), Json{{"input", 1}});
  REQUIRE_FALSE(out.ok());
  CHECK(*finished == 1);  // the node waited for the slow branch before reporting
  CHECK(out.state.data == Json{{"input", 1}});
  CHECK(out.state.meta.version == 1);
  CHECK(out.error->context["failedProcessor"] == "bad");
  CHECK(out.error->context["parallel"] == "fan-out");
  CHECK(out.error->context["branch"] == 1);
  REQUIRE(out.error->partial_state != nullptr);
  CHECK((*out.error->partial_state)["input"] == 1);
  CHECK_FALSE(out.error->partial_state->contains("a"));
}

TEST_CASE("the reported error is the first failing branch in declaration order") {
  // Branch 1 fails after 150ms, branch 3 fails at once: branch 1 is still the one reported.
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(
      parallel({set_key("a", 1), fail_after("slow-fail", 150ms), set_key("b", 2), fail_after("fast-fail", 0ms)}));
  REQUIRE_FALSE(out.ok());
  CHECK(test::ms_since(t0) >= 140);
  CHECK(out.error->context["failedProcessor"] == "slow-fail");
  CHECK(out.error->context["branch"] == 1);
  CHECK(out.error->message.find("failed after 150ms") != std::string::npos);
}

TEST_CASE("metadata version adds up the steps of every branch") {
  auto chain_of = [](const std::string& label, int steps) {
    std::vector<NodePtr> v;
    for (int i = 0; i < steps; ++i) v.push_back(test::leaf(label + std::to_string(i), test::add(1)));
    return std::make_shared<ChainNode>(label, std::move(v));
  };
  RunOutcome out =
      test::run(parallel({chain_of("two", 2), chain_of("one", 1), chain_of("three", 3)}), Json{{"count", 0}});
  REQUIRE(out.ok());
  CHECK(out.state.meta.version == 1 + 2 + 1 + 3);
  CHECK(out.state.meta.last_updated >= out.state.meta.created_at);
}

TEST_CASE("nested parallels inside parallels do not starve each other") {
  // 3 x 3 leaves that each wait 80ms: all nine run at once, so the whole thing takes ~80ms.
  std::vector<NodePtr> outer;
  for (int i = 0; i < 3; ++i) {
    std::vector<NodePtr> inner;
    for (int j = 0; j < 3; ++j) {
      const std::string key = "k" + std::to_string(i) + std::to_string(j);
      inner.push_back(test::leaf(key, [key](State& s, Context& ctx) -> Status {
        ctx.cancel_token().wait_for(80ms);
        s.data[key] = true;
        return {};
      }));
    }
    outer.push_back(parallel(std::move(inner)));
  }
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(parallel(std::move(outer)));
  const auto took = test::ms_since(t0);
  REQUIRE(out.ok());
  CHECK(out.state.data.size() == 9);
  CHECK(took < 500);  // sequential would be 720ms
}

TEST_CASE("branches that keep ending fast run on the parallel's thread; one that blocks is handed off again") {
  // Two branches that may block. In "fast" mode they return at once; in "meet" mode each waits
  // (up to 300 ms) for the other to arrive, which only works when both run at the same time.
  auto meet = std::make_shared<std::atomic<bool>>(false);
  auto arrived = std::make_shared<std::atomic<int>>(0);
  auto threads = std::make_shared<std::set<std::thread::id>>();
  auto mutex = std::make_shared<std::mutex>();
  std::vector<NodePtr> branches;
  for (int i = 0; i < 2; ++i) {
    branches.push_back(test::leaf("b" + std::to_string(i), [=](State& s, Context&) -> Status {
      {
        std::lock_guard lock(*mutex);
        threads->insert(std::this_thread::get_id());
      }
      if (!meet->load()) return {};
      arrived->fetch_add(1);
      const auto until = SteadyClock::now() + 300ms;
      while (arrived->load() < 2 && SteadyClock::now() < until) std::this_thread::sleep_for(1ms);
      s.data["met" + std::to_string(i)] = arrived->load() >= 2;
      return {};
    }));
  }
  NodePtr node = parallel(std::move(branches));
  auto caller = std::make_shared<std::thread::id>();
  auto record_caller = test::leaf("caller", [=](State&, Context&) -> Status {
    *caller = std::this_thread::get_id();
    return {};
  });
  NodePtr flow = std::make_shared<ChainNode>("c", std::vector<NodePtr>{record_caller, node});
  // Learning: enough short runs in a row (a preempted one starts the count again; sanitizer
  // builds are slower, hence the generous bound).
  auto* par = static_cast<const ParallelNode*>(node.get());
  for (int run = 0; run < 20000 && !(par->trusted_short(0) && par->trusted_short(1)); ++run) {
    REQUIRE(test::run(flow).ok());
  }
  REQUIRE((par->trusted_short(0) && par->trusted_short(1)));
  threads->clear();
  REQUIRE(test::run(flow).ok());
  CHECK(*threads == std::set<std::thread::id>{*caller});  // both ran here: no hand-off

  // Trusted, they run one after the other once: the meeting fails (the documented cost) ...
  meet->store(true);
  RunOutcome first = test::run(flow);
  REQUIRE(first.ok());
  CHECK(first.state.data["met0"] == false);
  // ... and having been slow, they are handed off again: both run at once and meet.
  arrived->store(0);
  RunOutcome second = test::run(flow);
  REQUIRE(second.ok());
  CHECK(second.state.data["met0"] == true);
  CHECK(second.state.data["met1"] == true);
}
