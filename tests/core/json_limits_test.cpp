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
