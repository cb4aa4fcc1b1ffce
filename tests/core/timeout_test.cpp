// Timeouts (per processor, per node, per run) and external cancellation.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include "tests/core/test_support.hpp"

using namespace am2z;
using namespace std::chrono_literals;

namespace {

/// What an abandoned step reports once it finally returns (shared: it outlives the run).
struct Probe {
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::atomic<bool> saw_cancel{false};
  std::mutex mutex;
  std::string reason;

  /// Waits (bounded) for the step to return.
  bool wait_finished(Millis limit = 3000ms) const {
    const auto until = SteadyClock::now() + limit;
    while (!finished.load() && SteadyClock::now() < until) std::this_thread::sleep_for(2ms);
    return finished.load();
  }
};

/// Waits up to `wait` on its token, recording what it saw; fails with CancelledError when
/// cancelled unless `succeed_anyway`.
test::Fn cooperative(std::shared_ptr<Probe> probe, Millis wait, bool succeed_anyway = false) {
  return [probe, wait, succeed_anyway](State& s, Context& ctx) -> Status {
    probe->started = true;
    const bool cancelled = ctx.cancel_token().wait_for(wait);
    {
      std::lock_guard lock(probe->mutex);
      probe->reason = ctx.cancel_token().reason();
    }
    probe->saw_cancel = cancelled;
    probe->finished = true;
    if (cancelled && !succeed_anyway) return fail(errors::cancelled(ctx.cancel_token().reason()));
    s.data["finished"] = true;
    return {};
  };
}

/// Ignores its token altogether.
test::Fn stubborn(std::shared_ptr<Probe> probe, Millis sleep) {
  return [probe, sleep](State& s, Context&) -> Status {
    probe->started = true;
    std::this_thread::sleep_for(sleep);
    s.data["finished"] = true;
    probe->finished = true;
    return {};
  };
}

StepPolicy with_timeout(Millis t) {
  StepPolicy p;
  p.timeout = t;
  return p;
}

}  // namespace

TEST_CASE("a processor timeout fails the step with OPERATION_TIMEOUT and fires its token") {
  auto probe = std::make_shared<Probe>();
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(test::leaf("slow", cooperative(probe, 2s), with_timeout(50ms)), Json{{"in", 1}});
  const auto took = test::ms_since(t0);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->name == "ProcessorTimeoutError");
  CHECK(out.error->code == "OPERATION_TIMEOUT");
  CHECK(out.error->category == ErrorCategory::timeout);
  CHECK(out.error->message.find("timed out after 50ms") != std::string::npos);
  CHECK(out.error->message == "'slow' timed out after 50ms");
  CHECK(out.error->context["timeoutMs"] == 50);
  CHECK(out.error->context["failedProcessor"] == "slow");
  CHECK(took >= 45);
  CHECK(took < 1000);
  // The state is the one before the step; the step's late changes never land.
  CHECK(out.state.data == Json{{"in", 1}});
  CHECK(out.state.meta.version == 1);

  REQUIRE(probe->wait_finished());
  CHECK(probe->saw_cancel);
  std::lock_guard lock(probe->mutex);
  CHECK(probe->reason.find("timed out after 50ms") != std::string::npos);
}

TEST_CASE("a step that ignores its token still times out on time") {
  auto probe = std::make_shared<Probe>();
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(test::leaf("stubborn", stubborn(probe, 600ms), with_timeout(50ms)));
  const auto took = test::ms_since(t0);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "OPERATION_TIMEOUT");
  CHECK(out.error->message.find("timed out after 50ms") != std::string::npos);
  CHECK(took < 400);  // the step itself takes 600ms
  CHECK_FALSE(probe->finished);
  CHECK(probe->wait_finished());  // it does finish later, harmlessly
  CHECK_FALSE(out.state.data.contains("finished"));
}

TEST_CASE("a step that finishes in time is unaffected by its timeout") {
  auto probe = std::make_shared<Probe>();
  RunOutcome out = test::run(test::leaf("quick", cooperative(probe, 10ms), with_timeout(1000ms)));
  REQUIRE(out.ok());
  CHECK(out.state.data["finished"] == true);
  CHECK(out.state.meta.version == 2);
  CHECK_FALSE(probe->saw_cancel);
}

TEST_CASE("a timeout on a chain node covers the whole chain") {
  auto probe = std::make_shared<Probe>();
  auto after = std::make_shared<std::atomic<int>>(0);
  auto chain = std::make_shared<ChainNode>(
      "checkout",
      std::vector<NodePtr>{test::leaf("first", test::add(1)), test::leaf("wait", cooperative(probe, 2s, true)),
                           test::leaf("after", [after](State&, Context&) -> Status {
                             ++*after;
                             return {};
                           })});
  chain->timeout = 80ms;
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(chain, Json{{"count", 0}});
  const auto took = test::ms_since(t0);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "OPERATION_TIMEOUT");
  CHECK(out.error->message == "'checkout' timed out after 80ms");
  CHECK(took >= 75);
  CHECK(took < 1000);
  // The whole chain failed: its state is the one before it.
  CHECK(out.state.data == Json{{"count", 0}});
  CHECK(out.state.meta.version == 1);
  // Its token fired, so the abandoned chain stops instead of running the steps after the one
  // waiting (which returned success after noticing the cancellation).
  REQUIRE(probe->wait_finished());
  CHECK(probe->saw_cancel);
  std::this_thread::sleep_for(30ms);
  CHECK(*after == 0);
}

TEST_CASE("a step's own timeout is cut short by a shorter enclosing deadline") {
  auto probe = std::make_shared<Probe>();
  auto chain = std::make_shared<ChainNode>(
      "outer", std::vector<NodePtr>{test::leaf("inner", cooperative(probe, 2s), with_timeout(1500ms))});
  chain->timeout = 60ms;
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(chain);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "OPERATION_TIMEOUT");
  // The limit that was hit is the chain's, whichever guard noticed the deadline first.
  CHECK(out.error->message == "'outer' timed out after 60ms");
  CHECK(test::ms_since(t0) < 1000);  // at the chain's 60ms, not the step's 1500ms
  REQUIRE(probe->wait_finished());
  CHECK(probe->saw_cancel);
}

TEST_CASE("a run-level timeout via RunOptions::timeout") {
  auto probe = std::make_shared<Probe>();
  RunOptions opts;
  opts.timeout = 100ms;
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(test::leaf("slow", cooperative(probe, 2s)), Json{{"x", 1}}, opts);
  const auto took = test::ms_since(t0);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "OPERATION_TIMEOUT");
  CHECK(out.error->message == "'test-flow' timed out after 100ms");
  CHECK(took >= 95);
  CHECK(took < 1000);
  CHECK(out.elapsed.count() >= 95);
  CHECK(out.elapsed.count() < 1000);
  CHECK(out.state.data == Json{{"x", 1}});
  REQUIRE(out.error->partial_state != nullptr);
  CHECK((*out.error->partial_state)["x"] == 1);
  REQUIRE(probe->wait_finished());
  CHECK(probe->saw_cancel);
}

TEST_CASE("a run-level timeout also stops a step that ignores its token") {
  auto probe = std::make_shared<Probe>();
  RunOptions opts;
  opts.timeout = 50ms;
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(test::leaf("stubborn", stubborn(probe, 600ms)), Json::object(), opts);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "OPERATION_TIMEOUT");
  CHECK(test::ms_since(t0) < 400);
  CHECK(probe->wait_finished());
}

TEST_CASE("a run that finishes inside its run-level timeout succeeds normally") {
  RunOptions opts;
  opts.timeout = 2000ms;
  RunOutcome out = test::run(test::leaf("quick", test::add(1)), Json{{"count", 1}}, opts);
  REQUIRE(out.ok());
  CHECK(out.state.data["count"] == 2);
  CHECK(out.state.meta.version == 2);
}

TEST_CASE("external cancellation via RunOptions::cancel gives CancelledError") {
  auto probe = std::make_shared<Probe>();
  CancelSource ext;
  RunOptions opts;
  opts.cancel = ext.token();
  std::thread stopper([&] {
    while (!probe->started) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(30ms);
    ext.cancel("interrupted");
  });
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(test::leaf("slow", cooperative(probe, 3s)), Json{{"x", 1}}, opts);
  const auto took = test::ms_since(t0);
  stopper.join();
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->name == "CancelledError");
  CHECK(out.error->code == "CANCELLED");
  CHECK(out.error->category == ErrorCategory::cancelled);
  CHECK(out.error->message == "cancelled: interrupted");
  CHECK(took < 1500);
  CHECK(out.state.data == Json{{"x", 1}});
  REQUIRE(probe->wait_finished());
  CHECK(probe->saw_cancel);
  std::lock_guard lock(probe->mutex);
  CHECK(probe->reason == "interrupted");
}

TEST_CASE("external cancellation wins over a step that ignores its token") {
  auto probe = std::make_shared<Probe>();
  CancelSource ext;
  RunOptions opts;
  opts.cancel = ext.token();
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    ext.cancel("interrupted");
  });
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(test::leaf("stubborn", stubborn(probe, 600ms)), Json::object(), opts);
  stopper.join();
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "CANCELLED");
  CHECK(test::ms_since(t0) < 400);
  CHECK(probe->wait_finished());
}

TEST_CASE("a run cancelled before it starts fails at once") {
  CancelSource ext;
  ext.cancel("already stopped");
  RunOptions opts;
  opts.cancel = ext.token();
  auto ran = std::make_shared<std::atomic<int>>(0);
  auto chain =
      std::make_shared<ChainNode>("c", std::vector<NodePtr>{test::leaf("never", [ran](State&, Context&) -> Status {
                                    ++*ran;
                                    return {};
                                  })});
  RunOutcome out = test::run(chain, Json::object(), opts);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "CANCELLED");
  CHECK(out.error->message == "cancelled: already stopped");
  std::this_thread::sleep_for(20ms);
  CHECK(*ran == 0);
}
