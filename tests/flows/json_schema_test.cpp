#include "flows/json_schema.hpp"

#include <doctest/doctest.h>

using namespace am2z;

namespace {

std::vector<std::string> check(const char* schema, const char* value) {
  auto compiled = JsonSchema::compile(Json::parse(schema));
  REQUIRE(compiled);
  std::vector<std::string> out;
  for (const auto& v : compiled->validate(Json::parse(value))) out.push_back(v.pointer() + " " + v.message);
  return out;
}

}  // namespace

TEST_CASE("violations are rephrased from the schema, most specific only") {
  const char* schema = R"({
    "type": "object",
    "required": ["id"],
    "properties": {
      "id": {"type": "integer", "minimum": 1},
      "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
      "mode": {"enum": ["fast", "safe"]},
      "ref": {"$ref": "#/definitions/ref"}
    },
    "additionalProperties": false,
    "definitions": {"ref": {"type": "string", "pattern": "^r-"}}
  })";
  CHECK(check(schema, R"({"id": 1})").empty());
  CHECK(check(schema, R"({"id": 0})") == std::vector<std::string>{"/id must be at least 1, got 0"});
  CHECK(check(schema, R"({})") == std::vector<std::string>{"/id missing required key 'id'"});
  CHECK(check(schema, R"({"id": 1, "tags": ["a", 2, ""]})") ==
        std::vector<std::string>{"/tags/1 expected a string, got 2", "/tags/2 must not be empty"});
  CHECK(check(schema, R"({"id": 1, "mode": "slow"})") ==
        std::vector<std::string>{"/mode unknown value 'slow'; expected fast or safe"});
  CHECK(check(schema, R"({"id": 1, "mdoe": "fast"})") ==
        std::vector<std::string>{"/mdoe unknown key 'mdoe'; did you mean 'mode'?"});
  CHECK(check(schema, R"({"id": 1, "ref": "x"})") == std::vector<std::string>{"/ref does not match the pattern ^r-"});
  CHECK(check(schema, R"([1])") == std::vector<std::string>{" expected a map, got a list"});
}

TEST_CASE("pointers escape '/' and '~'; fields read like flow paths") {
  SchemaViolation v{{std::string("a/b"), std::size_t{0}, std::string("c~d")}, "m"};
  CHECK(v.pointer() == "/a~1b/0/c~0d");
  CHECK(v.field() == "a/b[0].c~d");
  CHECK(SchemaViolation{}.pointer().empty());
}

TEST_CASE("a malformed schema does not compile") {
  auto bad = JsonSchema::compile(Json{{"type", "objekt"}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().context["reason"] == "invalid JSON Schema: Unrecognised JSON type name 'objekt'");
  CHECK(bad.error().context["at"] == "type");
  auto nested = JsonSchema::compile(Json::parse(R"({"properties": {"ids": {"items": [{"type": "strin"}]}}})"));
  REQUIRE_FALSE(nested);
  CHECK(nested.error().context["at"] == "properties.ids.items[0].type");
  auto not_a_map = JsonSchema::compile(Json::array());
  REQUIRE_FALSE(not_a_map);
  CHECK(not_a_map.error().context["reason"] == "a JSON Schema is a map (or true/false)");
}
