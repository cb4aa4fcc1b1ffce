// Nesting limits for JSON from outside.
#include "core/json_limits.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace am2z;

TEST_CASE("json_depth_violation finds the first bracket past the limit") {
  CHECK(json_depth_violation(R"({"a": [1, {"b": 2}]})", 3) == std::string_view::npos);
  CHECK(json_depth_violation(R"({"a": [1, {"b": 2}]})", 2) == 10);
  CHECK(json_depth_violation("[[[]]]", 3) == std::string_view::npos);
  CHECK(json_depth_violation("[[[[]]]]", 3) == 3);
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(json_depth_violation(deep) == kMaxJsonDepth);
}

TEST_CASE("brackets inside strings, escaped quotes included, do not count") {
  CHECK(json_depth_violation(R"(["[[[[", "\"[[[["])", 2) == std::string_view::npos);
  CHECK(json_depth_violation(R"({"k\\": [[[]]]})", 3) == 10);  // the third [ is the fourth level
}

TEST_CASE("parse_outside_json refuses numbers beyond a double instead of throwing") {
  auto r = am2z::parse_outside_json(R"({"a":1e400})");
  REQUIRE_FALSE(r);
  CHECK(r.error().reason.find("number out of range") != std::string::npos);
}

TEST_CASE("parse_outside_json reports the position of a syntax error") {
  auto r = am2z::parse_outside_json("{\n  \"a\": tru }");
  REQUIRE_FALSE(r);
  CHECK(r.error().reason.find("parse error") != std::string::npos);
  auto [line, col] = am2z::line_and_column("{\n  \"a\": tru }", r.error().offset);
  CHECK(line == 2);
  CHECK(col >= 8);
}

TEST_CASE("parse_outside_json enforces depth and size before parsing") {
  std::string deep(100000, '[');
  auto r = am2z::parse_outside_json(deep);
  REQUIRE_FALSE(r);
  CHECK(r.error().reason == "nested deeper than 512 levels");
  CHECK(r.error().offset == 512);
  auto big = am2z::parse_outside_json(R"({"a":"0123456789"})", am2z::JsonLimits{512, 10});
  REQUIRE_FALSE(big);
  CHECK(big.error().reason == "18 bytes is more than the limit of 10");
  auto ok = am2z::parse_outside_json(R"({"a":[1,2.5,"x"]})");
  REQUIRE(ok);
  CHECK((*ok)["a"][1] == 2.5);
}

TEST_CASE("parse_outside_json's reasons are printable even when the text is not UTF-8") {
  auto r = am2z::parse_outside_json("{\"a\":\"\xff\xfe\"}");
  REQUIRE_FALSE(r);
  CHECK(r.error().reason.find("\\xFF") != std::string::npos);
  CHECK_NOTHROW((void)am2z::Json(r.error().reason).dump());
}

TEST_CASE("parse_outside_json gives the position of a number out of range") {
  const std::string text = "{\n  \"a\": [1, -1e400]\n}";
  auto r = am2z::parse_outside_json(text);
  REQUIRE_FALSE(r);
  CHECK(r.error().reason == "number out of range: -1e400 does not fit a double");
  CHECK(am2z::line_and_column(text, r.error().offset) == std::pair<std::size_t, std::size_t>{2, 12});
  auto huge = am2z::parse_outside_json("[1" + std::string(400, '0') + "]");
  REQUIRE_FALSE(huge);
  CHECK(huge.error().reason == "number out of range: 1" + std::string(39, '0') + "... does not fit a double");
  CHECK(huge.error().offset == 1);
}

TEST_CASE("parse_outside_json quotes at most 40 bytes of the offending token") {
  const std::string text = "{\"a\": \"" + std::string(100000, 'x');  // an unterminated string
  auto r = am2z::parse_outside_json(text);
  REQUIRE_FALSE(r);
  CHECK(r.error().reason.size() < 300);
  CHECK(r.error().reason.ends_with("last read: '\"" + std::string(39, 'x') + "...'"));
}

TEST_CASE("a JsonProblem says which limit was hit, so callers need not compare reasons") {
  CHECK(am2z::parse_outside_json("[1e400]").error().kind == am2z::JsonProblem::Kind::out_of_range);
  CHECK(am2z::parse_outside_json(std::string(600, '[')).error().kind == am2z::JsonProblem::Kind::too_deep);
  CHECK(am2z::parse_outside_json("[1,2]", am2z::JsonLimits{512, 3}).error().kind == am2z::JsonProblem::Kind::too_big);
  CHECK(am2z::parse_outside_json("[1,").error().kind == am2z::JsonProblem::Kind::syntax);
}
