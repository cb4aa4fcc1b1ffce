#include <doctest/doctest.h>

#include <thread>

#include "plugin_harness.hpp"

using namespace am2z;

namespace {

std::unique_ptr<Processor> sleep_for(const Json& duration) {
  auto p = test::create("sleep", {{"duration", duration}});
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  return std::move(*p);
}

}  // namespace

TEST_CASE("sleep: waits for the duration and leaves the state alone") {
  test::Harness h;
  State s = State::create("s", {{"a", 1}});
  auto start = SteadyClock::now();
  REQUIRE(sleep_for("120ms")->process(s, h.ctx));
  CHECK(test::elapsed_ms(start) >= 120);
  CHECK(s.data == Json{{"a", 1}});
  start = SteadyClock::now();
  REQUIRE(sleep_for(30)->process(s, h.ctx));  // a bare integer is milliseconds
  CHECK(test::elapsed_ms(start) >= 30);
}

TEST_CASE("sleep: cancellation ends it early with the token's reason") {
  test::Harness h;
  State s = State::create("s");
  std::thread canceller([&] {
    std::this_thread::sleep_for(Millis(50));
    h.source.cancel("user pressed Ctrl-C");
  });
  auto start = SteadyClock::now();
  auto st = sleep_for("10s")->process(s, h.ctx);
  canceller.join();
  CHECK(test::elapsed_ms(start) < 1000);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "CANCELLED");
  CHECK(st.error().context["reason"] == "user pressed Ctrl-C");
}

TEST_CASE("sleep: parameters are validated with the field inside `with`") {
  CHECK(test::rejected_field("sleep", Json::object()) == "duration");
  CHECK(test::rejected_field("sleep", {{"duration", "soon"}}) == "duration");
  CHECK(test::rejected_field("sleep", {{"duration", "-5s"}}) == "duration");
  CHECK(test::rejected_field("sleep", {{"duration", true}}) == "duration");
  CHECK(test::create("sleep", {{"duration", "1.5s"}}));
}
