// Cancellation sources, tokens, callbacks and cancellable waits.
#include "core/cancel.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/core/test_support.hpp"

using namespace am2z;
using namespace std::chrono_literals;

namespace {}  // namespace

TEST_CASE("a source fires once and keeps the first reason") {
  CancelSource src;
  const CancelToken tok = src.token();
  CHECK(tok.can_be_cancelled());
  CHECK_FALSE(tok.cancelled());
  CHECK_FALSE(src.cancelled());
  CHECK(tok.reason().empty());

  src.cancel("interrupted");
  CHECK(tok.cancelled());
  CHECK(src.cancelled());
  CHECK(tok.reason() == "interrupted");

  src.cancel("second reason");
  CHECK(tok.reason() == "interrupted");
  CHECK(src.token().cancelled());  // tokens taken later see it too
}

TEST_CASE("a default token can never be cancelled") {
  const CancelToken tok;
  CHECK_FALSE(tok.can_be_cancelled());
  CHECK_FALSE(tok.cancelled());
  CHECK(tok.reason().empty());
  int calls = 0;
  {
    CancelRegistration reg = tok.on_cancel([&] { ++calls; });
  }
  CHECK(calls == 0);
  const auto t0 = SteadyClock::now();
  CHECK_FALSE(tok.wait_for(20ms));
  CHECK(test::ms_since(t0) >= 19);
}

TEST_CASE("child sources follow their parents, not the other way round") {
  CancelSource parent;
  CancelSource child(parent.token());
  CancelSource grandchild(child.token());
  CancelSource sibling(parent.token());

  child.cancel("child only");
  CHECK(child.cancelled());
  CHECK(grandchild.cancelled());
  CHECK(grandchild.token().reason() == "child only");
  CHECK_FALSE(parent.cancelled());
  CHECK_FALSE(sibling.cancelled());

  parent.cancel("everyone");
  CHECK(sibling.cancelled());
  CHECK(sibling.token().reason() == "everyone");
  CHECK(child.token().reason() == "child only");  // already fired: keeps its own reason
}

TEST_CASE("a child of an already cancelled parent starts cancelled") {
  CancelSource parent;
  parent.cancel("too late");
  CancelSource child(parent.token());
  CHECK(child.cancelled());
  CHECK(child.token().reason() == "too late");
}

TEST_CASE("a child of a default token is an ordinary source") {
  CancelSource child{CancelToken{}};
  CHECK_FALSE(child.cancelled());
  child.cancel("own");
  CHECK(child.token().reason() == "own");
}

TEST_CASE("a destroyed child no longer listens to its parent") {
  CancelSource parent;
  int calls = 0;
  CancelToken child_token;
  CancelRegistration reg;
  {
    CancelSource child(parent.token());
    child_token = child.token();
    reg = child_token.on_cancel([&] { ++calls; });
  }
  parent.cancel("after the child died");
  CHECK_FALSE(child_token.cancelled());
  CHECK(calls == 0);
}

TEST_CASE("callbacks run exactly once, every one of them") {
  CancelSource src;
  int a = 0;
  int b = 0;
  CancelRegistration ra = src.token().on_cancel([&] { ++a; });
  CancelRegistration rb = src.token().on_cancel([&] { ++b; });
  CHECK(a == 0);
  src.cancel("x");
  src.cancel("y");
  CHECK(a == 1);
  CHECK(b == 1);
  ra.reset();  // resetting after the fact is harmless
  CHECK(a == 1);
}

TEST_CASE("a callback registered after cancellation runs at once, in this thread") {
  CancelSource src;
  src.cancel("done");
  const auto me = std::this_thread::get_id();
  std::thread::id ran_on;
  int calls = 0;
  CancelRegistration reg = src.token().on_cancel([&] {
    ++calls;
    ran_on = std::this_thread::get_id();
  });
  CHECK(calls == 1);
  CHECK(ran_on == me);
}

TEST_CASE("callbacks run on the cancelling thread") {
  CancelSource src;
  std::thread::id ran_on;
  CancelRegistration reg = src.token().on_cancel([&] { ran_on = std::this_thread::get_id(); });
  std::thread canceller([&] { src.cancel("from another thread"); });
  const auto canceller_id = canceller.get_id();
  canceller.join();
  CHECK(ran_on == canceller_id);
}

TEST_CASE("removing a registration stops its callback") {
  CancelSource src;
  int reset_calls = 0;
  int scoped_calls = 0;
  int kept_calls = 0;
  CancelRegistration reset_me = src.token().on_cancel([&] { ++reset_calls; });
  {
    CancelRegistration scoped = src.token().on_cancel([&] { ++scoped_calls; });
  }
  CancelRegistration kept = src.token().on_cancel([&] { ++kept_calls; });
  reset_me.reset();
  src.cancel("x");
  CHECK(reset_calls == 0);
  CHECK(scoped_calls == 0);
  CHECK(kept_calls == 1);
}

TEST_CASE("moving a registration keeps it; move-assigning over one removes the old") {
  CancelSource src;
  int moved = 0;
  int replaced = 0;
  int replacement = 0;
  CancelRegistration first = src.token().on_cancel([&] { ++moved; });
  CancelRegistration second(std::move(first));
  first.reset();  // the moved-from handle owns nothing
  CancelRegistration slot = src.token().on_cancel([&] { ++replaced; });
  slot = src.token().on_cancel([&] { ++replacement; });
  src.cancel("x");
  CHECK(moved == 1);
  CHECK(replaced == 0);
  CHECK(replacement == 1);
}

TEST_CASE("reset() waits for a callback that is running on another thread") {
  // So a callback may capture references to the frame that registered it.
  CancelSource src;
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  CancelRegistration reg = src.token().on_cancel([&] {
    started = true;
    std::this_thread::sleep_for(100ms);
    finished = true;
  });
  std::thread canceller([&] { src.cancel("x"); });
  while (!started) std::this_thread::yield();
  reg.reset();
  CHECK(finished.load());
  canceller.join();
}

TEST_CASE("a callback may drop its own registration") {
  CancelSource src;
  int calls = 0;
  CancelRegistration reg;
  reg = src.token().on_cancel([&] {
    ++calls;
    reg.reset();  // must not wait for itself
  });
  std::thread canceller([&] { src.cancel("x"); });
  canceller.join();
  CHECK(calls == 1);
}

TEST_CASE("wait_until returns early when cancelled") {
  CancelSource src;
  const CancelToken tok = src.token();
  const auto t0 = SteadyClock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    src.cancel("stop waiting");
  });
  const bool cancelled = tok.wait_for(5s);
  const auto waited = test::ms_since(t0);
  canceller.join();
  CHECK(cancelled);
  CHECK(waited >= 40);
  CHECK(waited < 2000);  // nowhere near the 5s asked for
}

TEST_CASE("wait_until sleeps the full time when nobody cancels") {
  CancelSource src;
  const auto t0 = SteadyClock::now();
  CHECK_FALSE(src.token().wait_until(SteadyClock::now() + 30ms));
  CHECK(test::ms_since(t0) >= 29);
  CHECK_FALSE(src.cancelled());
}

TEST_CASE("waiting on an already cancelled token returns at once") {
  CancelSource src;
  src.cancel("x");
  const auto t0 = SteadyClock::now();
  CHECK(src.token().wait_for(5s));
  CHECK(test::ms_since(t0) < 1000);
}

TEST_CASE("a parent's cancellation wakes a waiter on a child") {
  CancelSource parent;
  CancelSource child(parent.token());
  std::atomic<bool> woke{false};
  std::thread waiter([&] { woke = child.token().wait_for(5s); });
  std::this_thread::sleep_for(20ms);
  const auto t0 = SteadyClock::now();
  parent.cancel("shutdown");
  waiter.join();
  CHECK(woke.load());
  CHECK(test::ms_since(t0) < 2000);
}
