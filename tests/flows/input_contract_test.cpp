// input: a JSON Schema on the flow, checked at load time (the schema) and before a run (the input).
#include "flows/input_contract.hpp"

#include "flows_test_support.hpp"

using namespace am2z;

namespace {

constexpr const char* kContract = R"(version: 1
name: contract
input:
  type: object
  required: [order]
  properties:
    order:
      type: object
      required: [total]
      properties:
        total: {type: number, minimum: 0}
flow: {use: set, with: {values: {ok: true}}}
)";

}  // namespace

TEST_CASE("input that matches the contract passes; other input names the offending value") {
  auto r = test::load_builtin(kContract);
  REQUIRE(r.ok());
  CHECK(r.flow->input_schema["required"] == Json::array({"order"}));
  CHECK(check_input(*r.flow, Json::parse(R"({"order": {"total": 3}})")));

  auto bad = check_input(*r.flow, Json::parse(R"({"order": {"total": "3"}})"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().category == ErrorCategory::validation);
  CHECK(bad.error().message ==
        "input does not match the input schema of flow 'contract' at /order/total: expected a number, got the string "
        "\"3\"");
  CHECK(bad.error().context["field"] == "/order/total");
  CHECK(bad.error().context["value"] == "3");

  auto two = check_input(*r.flow, Json::parse(R"({"order": {"total": -1}, "x": 1, "y": {}})"));
  REQUIRE_FALSE(two);
  CHECK(two.error().message.ends_with("at /order/total: must be at least 0, got -1"));

  auto missing = check_input(*r.flow, Json::object());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().context["violations"] ==
        Json::parse(R"([{"pointer": "/order", "message": "missing required key 'order'"}])"));
  CHECK(missing.error().context["value"].is_null());  // nothing there to show
}

TEST_CASE("a flow without input: accepts anything") {
  auto r = test::load_builtin("version: 1\nname: any\nflow: {use: log, with: {message: m}}\n");
  REQUIRE(r.ok());
  CHECK(r.flow->input_schema.is_null());
  CHECK(check_input(*r.flow, Json::parse(R"({"whatever": [1]})")));
}

TEST_CASE("a bad input schema is a validation error at input:") {
  auto r = test::load_builtin("version: 1\nname: s\ninput:\n  type: objekt\nflow: {use: log, with: {message: m}}\n");
  CHECK(
      test::lines_of(r) ==
      std::vector<std::string>{"test.yaml:4:9: input.type: invalid JSON Schema: Unrecognised JSON type name 'objekt'"});
  auto scalar = test::load_builtin("version: 1\nname: s\ninput: 5\nflow: {use: log, with: {message: m}}\n");
  CHECK(test::lines_of(scalar) ==
        std::vector<std::string>{"test.yaml:3:8: input: a JSON Schema is a map (or true/false)"});
}
