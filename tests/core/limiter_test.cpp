// Concurrency and rate limits, per processor instance, in flows and on their own.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include "tests/core/test_support.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace limiter_test {

using namespace am2z;
using namespace std::chrono_literals;

namespace {

struct Gauge {
  std::atomic<int> active{0};
  std::atomic<int> peak{0};
  std::atomic<int> runs{0};
  void enter() {
    ++runs;
    const int now = ++active;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { --active; }
};

test::Fn gauged(std::shared_ptr<Gauge> g, Millis hold) {
  return [g, hold](State&, Context& ctx) -> Status {
    g->enter();
    ctx.cancel_token().wait_for(hold);
    g->leave();
    return {};
  };
}

NodePtr fan_out(const std::shared_ptr<ProcessorInstance>& inst, int branches) {
  std::vector<NodePtr> v;
  for (int i = 0; i < branches; ++i) v.push_back(test::leaf(inst));  // separate nodes, one instance
  return std::make_shared<ParallelNode>("fan", std::move(v), MergeStrategy::deep);
}

}  // namespace

TEST_CASE("a concurrency limit holds across parallel branches using the same instance") {
  auto g = std::make_shared<Gauge>();
  StepPolicy p;
  p.concurrency = 2;
  auto inst = test::instance("limited", gauged(g, 60ms), p);
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(fan_out(inst, 5));
  const auto took = test::ms_since(t0);
  REQUIRE(out.ok());
  CHECK(g->runs == 5);
  CHECK(g->peak <= 2);
  CHECK(g->peak == 2);
  CHECK(took >= 170);  // three rounds of 60ms
  CHECK(out.state.meta.version == 6);
}

TEST_CASE("without a limit the same branches all run at once") {
  auto g = std::make_shared<Gauge>();
  auto inst = test::instance("free", gauged(g, 60ms));
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(fan_out(inst, 5));
  REQUIRE(out.ok());
  CHECK(g->peak == 5);
  CHECK(test::ms_since(t0) < 170);
}

TEST_CASE("limits are per instance: two instances do not share slots") {
  auto g = std::make_shared<Gauge>();
  StepPolicy p;
  p.concurrency = 1;
  auto a = test::instance("a", gauged(g, 60ms), p);
  auto b = test::instance("b", gauged(g, 60ms), p);
  auto par =
      std::make_shared<ParallelNode>("two", std::vector<NodePtr>{test::leaf(a), test::leaf(b)}, MergeStrategy::deep);
  RunOutcome out = test::run(par);
  REQUIRE(out.ok());
  CHECK(g->peak == 2);
}

TEST_CASE("a rate limit of 2/200ms delays the third start") {
  auto starts = std::make_shared<std::vector<SteadyClock::time_point>>();
  auto mutex = std::make_shared<std::mutex>();
  StepPolicy p;
  p.rate = RateLimit{2, 200ms};
  auto inst = test::instance(
      "rated",
      [starts, mutex](State& s, Context&) -> Status {
        std::lock_guard lock(*mutex);
        starts->push_back(SteadyClock::now());
        s.data["count"] = s.data.value("count", 0) + 1;
        return {};
      },
      p);
  auto chain =
      std::make_shared<ChainNode>("three", std::vector<NodePtr>{test::leaf(inst), test::leaf(inst), test::leaf(inst)});
  RunOutcome out = test::run(chain);
  REQUIRE(out.ok());
  CHECK(out.state.data["count"] == 3);
  REQUIRE(starts->size() == 3);
  const auto second = std::chrono::duration_cast<Millis>((*starts)[1] - (*starts)[0]).count();
  const auto third = std::chrono::duration_cast<Millis>((*starts)[2] - (*starts)[0]).count();
  CHECK(second < 100);  // within the allowance: no wait
  CHECK(third >= 190);  // had to wait for the window to slide
  CHECK(third < 1000);
}

TEST_CASE("ConcurrencyLimiter: acquire and release") {
  ConcurrencyLimiter lim(1);
  CancelSource src;
  REQUIRE(lim.acquire(src.token(), kNoDeadline, "p"));

  // Full: a second acquire gives up at its deadline.
  const auto t0 = SteadyClock::now();
  auto st = lim.acquire(src.token(), SteadyClock::now() + 40ms, "busy-proc");
  REQUIRE_FALSE(st.has_value());
  CHECK(test::ms_since(t0) >= 35);
  CHECK(test::ms_since(t0) < 1000);
  CHECK(st.error().code == "CANCELLED");
  CHECK(st.error().message.find("'busy-proc' waited for a concurrency slot") != std::string::npos);

  // A release lets a waiter in.
  std::thread releaser([&] {
    std::this_thread::sleep_for(30ms);
    lim.release();
  });
  CHECK(lim.acquire(src.token(), SteadyClock::now() + 2s, "p").has_value());
  releaser.join();
  lim.release();
}

TEST_CASE("ConcurrencyLimiter: cancellation ends a wait") {
  ConcurrencyLimiter lim(1);
  CancelSource src;
  REQUIRE(lim.acquire(src.token(), kNoDeadline, "p"));
  std::thread canceller([&] {
    std::this_thread::sleep_for(30ms);
    src.cancel("stop");
  });
  const auto t0 = SteadyClock::now();
  auto st = lim.acquire(src.token(), kNoDeadline, "p");
  canceller.join();
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().message == "cancelled: stop");
  CHECK(test::ms_since(t0) < 1000);
}

TEST_CASE("ConcurrencyLimiter: a slot freed after cancellation is not taken by a cancelled waiter") {
  // What happens when a run is cancelled: the holder stops because of the cancellation and
  // releases its slot; the step waiting for that slot must not start.
  ConcurrencyLimiter lim(1);
  CancelSource src;
  REQUIRE(lim.acquire(src.token(), kNoDeadline, "p"));
  std::optional<Status> waiter_result;
  std::thread waiter([&] { waiter_result = lim.acquire(src.token(), SteadyClock::now() + 3s, "p"); });
  std::this_thread::sleep_for(30ms);  // the waiter is blocked by now
  src.cancel("run cancelled");
  lim.release();
  waiter.join();
  REQUIRE(waiter_result.has_value());
  REQUIRE_FALSE(waiter_result->has_value());
  CHECK(waiter_result->error().message == "cancelled: run cancelled");
  // The slot is still free for someone who is not cancelled.
  CancelSource other;
  CHECK(lim.acquire(other.token(), SteadyClock::now() + 100ms, "p").has_value());
}

TEST_CASE("RateLimiter: the window slides; a deadline before the next slot gives up") {
  RateLimiter lim(RateLimit{1, 100ms});
  CancelSource src;
  REQUIRE(lim.acquire(src.token(), kNoDeadline, "r"));

  const auto t0 = SteadyClock::now();
  auto st = lim.acquire(src.token(), SteadyClock::now() + 30ms, "rated-proc");
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().message.find("'rated-proc' waited for its rate limit") != std::string::npos);
  CHECK(test::ms_since(t0) < 1000);

  REQUIRE(lim.acquire(src.token(), kNoDeadline, "r"));  // waits for the window
  CHECK(test::ms_since(t0) >= 60);
}

TEST_CASE("RateLimiter: cancellation ends a wait") {
  RateLimiter lim(RateLimit{1, 10s});
  CancelSource src;
  REQUIRE(lim.acquire(src.token(), kNoDeadline, "r"));
  std::thread canceller([&] {
    std::this_thread::sleep_for(30ms);
    src.cancel("bye");
  });
  const auto t0 = SteadyClock::now();
  auto st = lim.acquire(src.token(), kNoDeadline, "r");
  canceller.join();
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == "CANCELLED");
  CHECK(test::ms_since(t0) < 2000);
}

TEST_CASE("a concurrency wait inside a timed-out run ends with the run") {
  auto g = std::make_shared<Gauge>();
  StepPolicy p;
  p.concurrency = 1;
  auto inst = test::instance("hog", gauged(g, 2s), p);
  RunOptions opts;
  opts.timeout = 100ms;
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(fan_out(inst, 3), Json::object(), opts);
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "OPERATION_TIMEOUT");
  CHECK(test::ms_since(t0) < 1000);
  // Wait for the abandoned branches to give up (token-driven), then nothing is left running.
  const auto until = SteadyClock::now() + 2s;
  while (g->active > 0 && SteadyClock::now() < until) std::this_thread::sleep_for(5ms);
  CHECK(g->active == 0);
  CHECK(g->runs == 1);
}

}  // namespace limiter_test
