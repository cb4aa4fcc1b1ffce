// Retry policy: which errors retry, how often, how long between attempts, what the caller sees.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "tests/core/test_support.hpp"

using namespace am2z;
using namespace std::chrono_literals;

namespace {

using test::CollectingSink;

StepPolicy retrying(int attempts, Millis backoff = 1ms) {
  StepPolicy p;
  p.retry.attempts = attempts;
  p.retry.initial_backoff = backoff;
  return p;
}

/// Records every attempt number it sees and fails with `make_error` until attempt `succeed_on`.
struct Flaky {
  std::mutex mutex;
  std::vector<int> attempts;
  int calls() {
    std::lock_guard lock(mutex);
    return static_cast<int>(attempts.size());
  }
};

test::Fn flaky(std::shared_ptr<Flaky> rec, int succeed_on, std::function<Error(int)> make_error) {
  return [rec, succeed_on, make_error](State& s, Context& ctx) -> Status {
    {
      std::lock_guard lock(rec->mutex);
      rec->attempts.push_back(ctx.attempt());
    }
    if (ctx.attempt() < succeed_on) return fail(make_error(ctx.attempt()));
    s.data["succeededOn"] = ctx.attempt();
    return {};
  };
}

Error exec_error(int attempt) { return errors::execution("flaky", "attempt " + std::to_string(attempt) + " failed"); }

}  // namespace

TEST_CASE("a failing step is retried until it succeeds; ctx.attempt() counts up") {
  auto rec = std::make_shared<Flaky>();
  RunOutcome out = test::run(test::leaf("flaky", flaky(rec, 3, exec_error), retrying(5)));
  REQUIRE(out.ok());
  CHECK(rec->attempts == std::vector<int>{1, 2, 3});
  CHECK(out.state.data["succeededOn"] == 3);
  CHECK(out.state.meta.version == 2);  // failed attempts do not bump the version
}

TEST_CASE("attempts is the total number of tries; the caller sees the last attempt's error") {
  auto rec = std::make_shared<Flaky>();
  RunOutcome out = test::run(test::leaf("flaky", flaky(rec, 100, exec_error), retrying(3)));
  REQUIRE_FALSE(out.ok());
  CHECK(rec->calls() == 3);
  CHECK(out.error->message == "Processor 'flaky' execution failed: attempt 3 failed");
  CHECK(out.error->context["attempts"] == 3);
  CHECK(out.error->context["failedProcessor"] == "flaky");
}

TEST_CASE("without a retry policy a step runs once") {
  auto rec = std::make_shared<Flaky>();
  RunOutcome out = test::run(test::leaf("flaky", flaky(rec, 2, exec_error)));
  REQUIRE_FALSE(out.ok());
  CHECK(rec->calls() == 1);
  CHECK_FALSE(out.error->context.contains("attempts"));
}

TEST_CASE("by default only retryable errors retry") {
  SUBCASE("a validation error is final") {
    auto rec = std::make_shared<Flaky>();
    RunOutcome out =
        test::run(test::leaf("v", flaky(rec, 3, [](int) { return errors::validation("f", 1, "bad"); }), retrying(3)));
    REQUIRE_FALSE(out.ok());
    CHECK(rec->calls() == 1);
    CHECK(out.error->code == "VALIDATION_FAILED");
  }
  SUBCASE("a business error is final") {
    auto rec = std::make_shared<Flaky>();
    RunOutcome out =
        test::run(test::leaf("b", flaky(rec, 3, [](int) { return errors::business("NOPE", "no"); }), retrying(3)));
    REQUIRE_FALSE(out.ok());
    CHECK(rec->calls() == 1);
  }
  SUBCASE("a network error retries") {
    auto rec = std::make_shared<Flaky>();
    RunOutcome out =
        test::run(test::leaf("n", flaky(rec, 3, [](int) { return errors::network("api", 503, ""); }), retrying(3)));
    REQUIRE(out.ok());
    CHECK(rec->calls() == 3);
  }
  SUBCASE("a cancelled error never retries") {
    auto rec = std::make_shared<Flaky>();
    StepPolicy p = retrying(3);
    p.retry.on_categories = {ErrorCategory::cancelled};
    RunOutcome out = test::run(test::leaf("c", flaky(rec, 3, [](int) { return errors::cancelled("x"); }), p));
    REQUIRE_FALSE(out.ok());
    CHECK(rec->calls() == 1);
  }
}

TEST_CASE("on_codes retries exactly the listed codes, even non-retryable ones") {
  StepPolicy p = retrying(3);
  p.retry.on_codes = {"RATE_LIMITED"};
  auto listed = std::make_shared<Flaky>();
  RunOutcome ok = test::run(
      test::leaf("a", flaky(listed, 3, [](int) { return errors::business("RATE_LIMITED", "slow down"); }), p));
  REQUIRE(ok.ok());
  CHECK(listed->calls() == 3);

  // A retryable error whose code is not listed does not retry once a list is given.
  auto unlisted = std::make_shared<Flaky>();
  RunOutcome bad = test::run(test::leaf("b", flaky(unlisted, 3, exec_error), p));
  REQUIRE_FALSE(bad.ok());
  CHECK(unlisted->calls() == 1);
}

TEST_CASE("on_categories retries the listed categories") {
  StepPolicy p = retrying(4);
  p.retry.on_categories = {ErrorCategory::network, ErrorCategory::resource};
  auto net = std::make_shared<Flaky>();
  REQUIRE(test::run(test::leaf("n", flaky(net, 2, [](int) { return errors::network("x", 0, ""); }), p)).ok());
  CHECK(net->calls() == 2);
  auto res = std::make_shared<Flaky>();
  REQUIRE(test::run(test::leaf("r", flaky(res, 4, [](int) { return errors::resource("mem", 1, 2); }), p)).ok());
  CHECK(res->calls() == 4);
  auto other = std::make_shared<Flaky>();
  REQUIRE_FALSE(test::run(test::leaf("t", flaky(other, 2, [](int) { return errors::timeout("t", 1); }), p)).ok());
  CHECK(other->calls() == 1);
}

TEST_CASE("should_retry directly") {
  RetryPolicy p;
  CHECK(p.should_retry(errors::execution("p", "m")));
  CHECK_FALSE(p.should_retry(errors::configuration("k", "r")));
  CHECK_FALSE(p.should_retry(errors::cancelled("r")));
  p.on_codes = {"CUSTOM"};
  CHECK(p.should_retry(errors::business("CUSTOM", "m")));
  CHECK_FALSE(p.should_retry(errors::execution("p", "m")));
  p.on_categories = {ErrorCategory::execution};
  CHECK(p.should_retry(errors::execution("p", "m")));
}

TEST_CASE("backoff grows by the multiplier and is capped") {
  RetryPolicy p;
  p.initial_backoff = 100ms;
  p.multiplier = 2.0;
  p.max_backoff = 500ms;
  CHECK(p.backoff_after(1, 0.5) == 100ms);
  CHECK(p.backoff_after(2, 0.5) == 200ms);
  CHECK(p.backoff_after(3, 0.5) == 400ms);
  CHECK(p.backoff_after(4, 0.5) == 500ms);
  CHECK(p.backoff_after(30, 0.5) == 500ms);

  p.jitter = 0.5;
  CHECK(p.backoff_after(1, 0.0) == 50ms);   // 1 - j
  CHECK(p.backoff_after(1, 0.5) == 100ms);  // middle
  CHECK(p.backoff_after(1, 0.999) >= 149ms);
  CHECK(p.backoff_after(1, 0.999) <= 150ms);

  p.jitter = 0;
  p.multiplier = 1.0;
  CHECK(p.backoff_after(5, 0.1) == 100ms);  // constant backoff
}

TEST_CASE("the waits between attempts follow the backoff") {
  auto times = std::make_shared<std::vector<SteadyClock::time_point>>();
  auto mutex = std::make_shared<std::mutex>();
  StepPolicy p = retrying(3, 60ms);
  p.retry.multiplier = 2.0;
  auto step = test::leaf(
      "timed",
      [=](State&, Context&) -> Status {
        std::lock_guard lock(*mutex);
        times->push_back(SteadyClock::now());
        return fail(errors::network("api", 503, ""));
      },
      p);
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(step);
  const auto took = test::ms_since(t0);
  REQUIRE_FALSE(out.ok());
  REQUIRE(times->size() == 3);
  const auto gap1 = std::chrono::duration_cast<Millis>((*times)[1] - (*times)[0]).count();
  const auto gap2 = std::chrono::duration_cast<Millis>((*times)[2] - (*times)[1]).count();
  CHECK(gap1 >= 55);   // 60ms
  CHECK(gap2 >= 110);  // 120ms
  CHECK(gap2 > gap1);
  CHECK(took < 2000);
}

TEST_CASE("processor:retrying events announce each retry") {
  auto rec = std::make_shared<Flaky>();
  StepPolicy p = retrying(3, 5ms);
  CollectingSink sink;
  RunOptions opts;
  opts.events = std::shared_ptr<EventSink>(std::shared_ptr<void>(), &sink);  // non-owning
  RunOutcome out = test::run(test::leaf("flaky", flaky(rec, 3, exec_error), p), Json::object(), opts);
  REQUIRE(out.ok());
  const auto retries = sink.named("processor:retrying");
  REQUIRE(retries.size() == 2);
  CHECK(retries[0]["processor"] == "flaky");
  CHECK(retries[0]["attempt"] == 1);
  CHECK(retries[0]["nextAttempt"] == 2);
  CHECK(retries[0]["delayMs"] == 5);
  CHECK(retries[0]["error"]["message"] == "Processor 'flaky' execution failed: attempt 1 failed");
  CHECK(retries[1]["attempt"] == 2);
  CHECK(retries[1]["nextAttempt"] == 3);
  CHECK(retries[1]["delayMs"] == 10);
  CHECK(retries[1]["runId"] == out.run_id);

  const auto started = sink.named("processor:started");
  REQUIRE(started.size() == 3);
  CHECK(started[2]["attempt"] == 3);
  const auto completed = sink.named("processor:completed");
  REQUIRE(completed.size() == 1);
  CHECK(completed[0]["attempt"] == 3);
  CHECK(sink.named("processor:failed").empty());
}

TEST_CASE("cancellation during a backoff ends the retries with CancelledError") {
  auto rec = std::make_shared<Flaky>();
  CancelSource ext;
  RunOptions opts;
  opts.cancel = ext.token();
  std::thread stopper([&] {
    std::this_thread::sleep_for(60ms);
    ext.cancel("stop");
  });
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(test::leaf("flaky", flaky(rec, 100, exec_error), retrying(5, 5s)), Json::object(), opts);
  stopper.join();
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "CANCELLED");
  CHECK(test::ms_since(t0) < 2000);
  // Give the abandoned step a moment: it must not start another attempt after the cancel.
  std::this_thread::sleep_for(50ms);
  CHECK(rec->calls() == 1);
}

TEST_CASE("each attempt gets its own timeout; a timeout is retryable") {
  auto rec = std::make_shared<Flaky>();
  StepPolicy p = retrying(3, 1ms);
  p.timeout = 40ms;
  auto step = test::leaf(
      "slow-then-fast",
      [rec](State& s, Context& ctx) -> Status {
        {
          std::lock_guard lock(rec->mutex);
          rec->attempts.push_back(ctx.attempt());
        }
        if (ctx.attempt() < 3) ctx.cancel_token().wait_for(2s);  // times out
        s.data["attempt"] = ctx.attempt();
        return {};
      },
      p);
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(step);
  REQUIRE(out.ok());
  CHECK(out.state.data["attempt"] == 3);
  CHECK(rec->calls() == 3);
  CHECK(test::ms_since(t0) < 1500);
}
