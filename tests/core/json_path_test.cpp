// JsonPath: parsing, lookup, assignment and removal inside a state.
#include "core/json_path.hpp"

#include <doctest/doctest.h>

#include <string>

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace json_path_test {

using namespace am2z;

namespace {

JsonPath path(std::string_view text) {
  auto p = JsonPath::parse(text);
  REQUIRE_MESSAGE(p.has_value(), "path '" << std::string(text) << "' should parse");
  return *p;
}

/// The reason of a failed parse ("" when it parsed).
std::string parse_error(std::string_view text) {
  Result<JsonPath> p = JsonPath::parse(text);
  if (p) return "";
  CHECK(p.error().code == "VALIDATION_FAILED");
  CHECK(p.error().context["field"] == "path");
  return p.error().message;
}

const Json kOrder = Json::parse(R"({
  "status": "open",
  "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
  "a": {"b": [10, 11, 12]},
  "my key": {"x": true},
  "grid": [[1, 2], [3, 4]]
})");

}  // namespace

TEST_CASE("parses segments") {
  CHECK(path(".").is_root());
  CHECK(path(".").segments().empty());

  const JsonPath status = path(".status");
  CHECK_FALSE(status.is_root());
  REQUIRE(status.segments().size() == 1);
  CHECK(std::get<std::string>(status.segments()[0]) == "status");

  const JsonPath sku = path(".lines[0].sku");
  REQUIRE(sku.segments().size() == 3);
  CHECK(std::get<std::string>(sku.segments()[0]) == "lines");
  CHECK(std::get<std::size_t>(sku.segments()[1]) == 0);
  CHECK(std::get<std::string>(sku.segments()[2]) == "sku");
  CHECK(sku.text() == ".lines[0].sku");

  const JsonPath quoted = path(R"(."my key".x)");
  REQUIRE(quoted.segments().size() == 2);
  CHECK(std::get<std::string>(quoted.segments()[0]) == "my key");

  CHECK(path(".grid[1][0]").segments().size() == 3);
  CHECK(path(".a_b.c-d.$e.@f.g1").segments().size() == 5);
}

TEST_CASE("malformed paths are validation errors that say where") {
  CHECK(parse_error("") ==
        "Validation failed for field 'path': invalid path '' at character 1: a path starts with "
        "'.' (the root is '.')");
  CHECK(parse_error("status").find("a path starts with '.'") != std::string::npos);
  CHECK(parse_error(".a..b").find("at character 4: expected a key name after '.'") != std::string::npos);
  CHECK(parse_error(".a.").find("expected a key name after '.'") != std::string::npos);
  CHECK(parse_error(".a[").find("expected an array index such as [0]") != std::string::npos);
  CHECK(parse_error(".a[]").find("expected an array index") != std::string::npos);
  CHECK(parse_error(".a[x]").find("expected an array index") != std::string::npos);
  CHECK(parse_error(".a[-1]").find("expected an array index") != std::string::npos);
  CHECK(parse_error(".a[1").find("expected an array index") != std::string::npos);
  CHECK(parse_error(".a b").find("at character 3: unexpected ' '") != std::string::npos);
  CHECK(parse_error(".a]").find("unexpected ']'") != std::string::npos);
  CHECK(parse_error(R"(."open)").find("unterminated quoted key") != std::string::npos);
}

TEST_CASE("an index too large for a number is a validation error, not an exception") {
  std::string message;
  CHECK_NOTHROW(message = parse_error(".a[99999999999999999999999999]"));
  CHECK(message.find("invalid path '.a[99999999999999999999999999]' at character 4: array index is too large") !=
        std::string::npos);
}

TEST_CASE("find returns the value or null") {
  CHECK(path(".").find(kOrder) == &kOrder);
  REQUIRE(path(".status").find(kOrder) != nullptr);
  CHECK(*path(".status").find(kOrder) == "open");
  CHECK(*path(".lines[1].sku").find(kOrder) == "B-2");
  CHECK(*path(".a.b[2]").find(kOrder) == 12);
  CHECK(*path(R"(."my key".x)").find(kOrder) == true);
  CHECK(*path(".grid[1][0]").find(kOrder) == 3);

  CHECK(path(".missing").find(kOrder) == nullptr);
  CHECK(path(".lines[2]").find(kOrder) == nullptr);   // out of range
  CHECK(path(".status.x").find(kOrder) == nullptr);   // key into a string
  CHECK(path(".status[0]").find(kOrder) == nullptr);  // index into a string
  CHECK(path(".a[0]").find(kOrder) == nullptr);       // index into an object
  CHECK(path(".lines.sku").find(kOrder) == nullptr);  // key into an array
  CHECK(path(".a.b[0].deeper").find(kOrder) == nullptr);
}

TEST_CASE("assign creates objects and pads arrays along the way") {
  Json doc = Json::object();
  REQUIRE(path(".a.b.c").assign(doc, 1));
  CHECK(doc == Json{{"a", {{"b", {{"c", 1}}}}}});

  REQUIRE(path(".list[2]").assign(doc, "z"));
  CHECK(doc["list"] == Json::array({nullptr, nullptr, "z"}));

  REQUIRE(path(".list[0].name").assign(doc, "first"));
  CHECK(doc["list"][0] == Json{{"name", "first"}});

  REQUIRE(path(".a.b.c").assign(doc, Json{{"replaced", true}}));  // overwrites
  CHECK(doc["a"]["b"]["c"] == Json{{"replaced", true}});
  CHECK(doc["list"].size() == 3);

  REQUIRE(path(".").assign(doc, Json{{"root", 1}}));
  CHECK(doc == Json{{"root", 1}});
}

TEST_CASE("assign through a value of the wrong type fails and names it") {
  Json doc{{"s", "text"}, {"o", {{"k", 1}}}, {"arr", {1, 2}}};
  const Json original = doc;

  auto st = path(".s.inner").assign(doc, 1);
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == "VALIDATION_FAILED");
  CHECK(st.error().context["field"] == ".s.inner");
  CHECK(st.error().message.find("cannot set key 'inner' inside a string") != std::string::npos);

  st = path(".o[0]").assign(doc, 1);
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().message.find("cannot index [0] into a object") != std::string::npos);

  st = path(".arr.x").assign(doc, 1);
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().message.find("inside a array") != std::string::npos);
  CHECK(doc == original);  // nothing half-written
}

TEST_CASE("erase removes keys and array elements") {
  Json doc = kOrder;
  CHECK(path(".status").erase(doc));
  CHECK_FALSE(doc.contains("status"));
  CHECK_FALSE(path(".status").erase(doc));  // already gone

  CHECK(path(".lines[0]").erase(doc));
  REQUIRE(doc["lines"].size() == 1);
  CHECK(doc["lines"][0]["sku"] == "B-2");  // later elements shift down
  CHECK_FALSE(path(".lines[5]").erase(doc));

  CHECK(path(".a.b[1]").erase(doc));
  CHECK(doc["a"]["b"] == Json::array({10, 12}));

  CHECK_FALSE(path(".nope.deeper").erase(doc));
  CHECK_FALSE(path(".a.b.x").erase(doc));  // key in an array
  CHECK_FALSE(path(".a[0]").erase(doc));   // index in an object

  CHECK(path(".").erase(doc));
  CHECK(doc == Json::object());
}

}  // namespace json_path_test
