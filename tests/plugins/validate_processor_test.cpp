// validate: a JSON Schema check of the state or of a path in it.
#include <doctest/doctest.h>

#include "plugin_harness.hpp"

using namespace am2z;

namespace {

const Json kOrderSchema = Json::parse(R"({
  "type": "object",
  "required": ["id", "lines"],
  "properties": {
    "id": {"type": "string"},
    "lines": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["qty"],
              "properties": {"qty": {"type": "integer", "minimum": 1}}}}
  }
})");

Status check(const Json& with, Json data) {
  auto p = test::create("validate", with);
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  test::Harness h;
  State s = State::create("s", std::move(data));
  return (*p)->process(s, h.ctx);
}

}  // namespace

TEST_CASE("validate: a matching value passes and the state is unchanged") {
  CHECK(
      check({{"schema", kOrderSchema}, {"path", ".order"}}, Json{{"order", {{"id", "A"}, {"lines", {{{"qty", 1}}}}}}}));
  CHECK(check({{"schema", {{"required", {"order"}}}}}, Json{{"order", 1}}));
}

TEST_CASE("validate: a mismatch is a ValidationError listing the failing JSON pointers") {
  auto st = check({{"schema", kOrderSchema}, {"path", "order"}},
                  Json{{"order", {{"id", 7}, {"lines", {{{"qty", 1}}, {{"qty", 0}}}}}}});
  REQUIRE_FALSE(st);
  CHECK(st.error().name == "ValidationError");
  CHECK(st.error().context["field"] == ".order");
  const std::string& m = st.error().message;
  CHECK(m.find("does not match the schema") != std::string::npos);
  CHECK(m.find("/id: ") != std::string::npos);
  CHECK(m.find("/lines/1/qty: ") != std::string::npos);
  std::vector<std::string> pointers;
  for (const auto& f : st.error().context["failures"]) pointers.push_back(f["pointer"]);
  CHECK(std::find(pointers.begin(), pointers.end(), "/lines/1/qty") != pointers.end());

  auto missing = check({{"schema", kOrderSchema}, {"path", ".order"}}, Json::object());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("is not in the state") != std::string::npos);
}

TEST_CASE("validate: parameters are checked, including the schema itself") {
  CHECK(test::rejected_field("validate", Json::object()) == "schema");
  CHECK(test::rejected_field("validate", {{"schema", "string"}}) == "schema");
  CHECK(test::rejected_field("validate", {{"schema", {{"type", 12}}}}) == "schema");
  CHECK(test::rejected_field("validate", {{"schema", Json::object()}, {"path", ".metadata"}}) == "path");
}
