#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "plugin_harness.hpp"

using namespace am2z;

namespace {

/// A logger writing "<level>|<message>" lines into a string.
struct CapturedLog {
  explicit CapturedLog(spdlog::level::level_enum level = spdlog::level::trace)
      : logger(std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_st>(out))) {
    logger->set_pattern("%l|%v");
    logger->set_level(level);
  }
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
};

std::string log_with(const Json& with, const State& state,
                     spdlog::level::level_enum logger_level = spdlog::level::trace) {
  CapturedLog log(logger_level);
  test::Harness h(kNoDeadline, 1, log.logger);
  auto p = test::create("log", with);
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  State copy = state;
  REQUIRE((*p)->process(copy, h.ctx));
  CHECK(copy.data == state.data);
  log.logger->flush();
  return log.out.str();
}

}  // namespace

TEST_CASE("log: placeholders show values, strings without quotes") {
  State s = State::create("s", {{"order", {{"id", 42}, {"customer", "bob"}, {"items", Json::array({1, 2})}}}});
  CHECK(log_with({{"message", "order {.order.id} for {.order.customer}: {.order.items}, {.nope} v{.metadata.version}"}},
                 s) == "info|order 42 for bob: [1,2], null v1\n");
  CHECK(log_with({{"message", "raw {\"a\": 1} {} {.order.id}"}}, s) == "info|raw {\"a\": 1} {} 42\n");
  CHECK(log_with({{"message", "{.order.items[1]}"}, {"level", "warn"}}, s) == "warning|2\n");
  CHECK(log_with({{"message", "x"}, {"level", "error"}}, s) == "error|x\n");
}

TEST_CASE("log: a level below the logger's is not written") {
  State s = State::create("s");
  CHECK(log_with({{"message", "hidden"}, {"level", "debug"}}, s, spdlog::level::info).empty());
  CHECK(log_with({{"message", "shown"}, {"level", "debug"}}, s, spdlog::level::debug) == "debug|shown\n");
}

TEST_CASE("log: parameters are validated with the field inside `with`") {
  CHECK(test::rejected_field("log", Json::object()) == "message");
  CHECK(test::rejected_field("log", {{"message", 3}}) == "message");
  CHECK(test::rejected_field("log", {{"message", "open {.a"}}) == "message");
  CHECK(test::rejected_field("log", {{"message", "bad {.a..b}"}}) == "message");
  CHECK(test::rejected_field("log", {{"message", "m"}, {"level", "loud"}}) == "level");
}
