#include <doctest/doctest.h>

#include "plugin_harness.hpp"

using namespace am2z;

namespace {

std::unique_ptr<Processor> set(const Json& values) {
  auto p = test::create("set", {{"values", values}});
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  return std::move(*p);
}

}  // namespace

TEST_CASE("set: top-level fields, with or without the leading dot") {
  test::Harness h;
  State s = State::create("s", {{"keep", true}, {"a", {{"old", 1}}}});
  REQUIRE(set({{"a", 1}, {".b", "two"}, {"c", {{"nested", Json::array({1, 2})}}}})->process(s, h.ctx));
  CHECK(s.data == Json{{"keep", true}, {"a", 1}, {"b", "two"}, {"c", {{"nested", Json::array({1, 2})}}}});
}

TEST_CASE("set: nested paths keep siblings and create what is missing") {
  test::Harness h;
  Json lines = Json::array({Json{{"sku", "A"}}});
  State s = State::create("s", {{"order", {{"id", 42}, {"lines", lines}}}});
  REQUIRE(set({{"order.status", "paid"},
               {".order.lines[0].qty", 3},
               {".order.lines[2]", "padded"},
               {"fresh.deep.key", nullptr}})
              ->process(s, h.ctx));
  CHECK(s.data["order"]["id"] == 42);
  CHECK(s.data["order"]["status"] == "paid");
  CHECK(s.data["order"]["lines"] == Json::array({Json{{"sku", "A"}, {"qty", 3}}, nullptr, "padded"}));
  CHECK(s.data["fresh"] == Json{{"deep", {{"key", nullptr}}}});
}

TEST_CASE("set: a failing assignment leaves the state untouched, even after earlier ones succeeded") {
  test::Harness h;
  // Keys apply in sorted order: ".a" and ".b.c" succeed before ".s.x" meets a string.
  State s = State::create("s", {{"a", 0}, {"b", {{"keep", 1}}}, {"s", "text"}});
  Json before = s.data;
  auto st = set({{"a", 1}, {"b.c", 2}, {"s.x", 3}})->process(s, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().category == ErrorCategory::validation);
  CHECK(st.error().message.find("string") != std::string::npos);
  CHECK(s.data == before);

  st = set({{"a.b", 1}, {"list[1]", 2}})->process(s, h.ctx);  // .a is a number
  REQUIRE_FALSE(st);
  CHECK(s.data == before);
}

TEST_CASE("set: the metadata is left to the engine") {
  test::Harness h;
  State s = State::create("s", {{"a", 1}});
  REQUIRE(set({{"a", 2}})->process(s, h.ctx));
  CHECK(s.meta.version == 1);
  CHECK_FALSE(s.data.contains("metadata"));
}

TEST_CASE("set: parameters are validated with the field inside `with`") {
  CHECK(test::rejected_field("set", Json::object()) == "values");
  CHECK(test::rejected_field("set", {{"values", Json::array({1})}}) == "values");
  for (const char* bad : {"a..b", ".", "[0]", "metadata.version", ".metadata", "a[x]"}) {
    CAPTURE(bad);
    CHECK(test::rejected_field("set", {{"values", {{bad, 1}}}}) == "values");
  }
  auto dup = test::create("set", {{"values", {{"a.b", 1}, {".a.b", 2}}}});
  REQUIRE_FALSE(dup);
  CHECK(dup.error().message.find("a.b") != std::string::npos);
  CHECK(test::create("set", {{"values", Json::object()}}));
}
