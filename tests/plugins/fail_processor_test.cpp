#include <doctest/doctest.h>

#include "plugin_harness.hpp"

using namespace am2z;

namespace {

Error failure(const Json& with, int attempt = 1) {
  auto p = test::create("fail", with);
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  test::Harness h(kNoDeadline, attempt);
  State s = State::create("s", {{"a", 1}});
  auto st = (*p)->process(s, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(s.data == Json{{"a", 1}});
  return st.error();
}

}  // namespace

TEST_CASE("fail: defaults to a business error FAILED") {
  Error e = failure(Json::object());
  CHECK(e.name == "BusinessError");
  CHECK(e.code == "FAILED");
  CHECK(e.category == ErrorCategory::business);
  CHECK(e.message == "failed by the fail processor");
  Error custom = failure({{"code", "OUT_OF_STOCK"}, {"message", "no more widgets"}});
  CHECK(custom.code == "OUT_OF_STOCK");
  CHECK(custom.message == "no more widgets");
}

TEST_CASE("fail: each error kind maps to its category and class") {
  struct Case {
    const char* kind;
    ErrorCategory category;
    const char* name;
  };
  for (const Case& c : {Case{"validation", ErrorCategory::validation, "ValidationError"},
                        Case{"execution", ErrorCategory::execution, "ProcessorExecutionError"},
                        Case{"timeout", ErrorCategory::timeout, "ProcessorTimeoutError"},
                        Case{"resource", ErrorCategory::resource, "ResourceError"},
                        Case{"network", ErrorCategory::network, "NetworkError"},
                        Case{"configuration", ErrorCategory::configuration, "ConfigurationError"},
                        Case{"business", ErrorCategory::business, "BusinessError"}}) {
    CAPTURE(c.kind);
    Error e = failure({{"error", c.kind}, {"message", "boom"}});
    CHECK(e.category == c.category);
    CHECK(e.name == c.name);
    CHECK(e.message == "boom");
  }
  CHECK(failure({{"error", "network"}}).retryable);
  CHECK_FALSE(failure({{"error", "validation"}}).retryable);
}

TEST_CASE("fail: with times, only the first attempts fail") {
  auto p = test::create("fail", {{"times", 2}, {"error", "network"}});
  REQUIRE(p);
  for (int attempt = 1; attempt <= 4; ++attempt) {
    CAPTURE(attempt);
    test::Harness h(kNoDeadline, attempt);
    State s = State::create("s", {{"a", 1}});
    CHECK(static_cast<bool>((*p)->process(s, h.ctx)) == (attempt > 2));
    CHECK(s.data == Json{{"a", 1}});
  }
}

TEST_CASE("fail: parameters are validated with the field inside `with`") {
  CHECK(test::rejected_field("fail", {{"error", "oops"}}) == "error");
  CHECK(test::rejected_field("fail", {{"error", "auth"}}) == "error");
  CHECK(test::rejected_field("fail", {{"times", 0}}) == "times");
  CHECK(test::rejected_field("fail", {{"times", "2"}}) == "times");
  CHECK(test::rejected_field("fail", {{"message", 5}}) == "message");
  CHECK(test::rejected_field("fail", {{"code", ""}}) == "code");
  CHECK(test::rejected_field("fail", {{"error", "network"}, {"code", "X"}}) == "code");
  CHECK(test::create("fail", nullptr));
}
