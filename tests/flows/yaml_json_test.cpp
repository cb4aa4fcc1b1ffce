// YAML scalars as JSON values, and the diagnostic for a number no double can hold.
#include "flows/yaml_json.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace am2z;

namespace {

std::expected<Json, std::string> scalar(const std::string& text) { return scalar_to_json(YAML::Load(text)); }

}  // namespace

TEST_CASE("plain scalars become null, booleans, integers, floats or strings") {
  CHECK(*scalar("~") == Json(nullptr));
  CHECK(*scalar("true") == Json(true));
  CHECK(*scalar("0x1f") == Json(31));
  CHECK(*scalar("-1.5e3") == Json(-1500.0));
  CHECK(*scalar("1e-400") == Json(0.0));  // too small is 0, as in JSON
  CHECK(scalar("123456789012345678901234567890")->get<double>() == doctest::Approx(1.2345678901234568e29));
  CHECK(std::isinf(scalar(".inf")->get<double>()));
  CHECK(*scalar("'1e400'") == Json("1e400"));  // quoted: a string, whatever it looks like
  CHECK(*scalar("1e400x") == Json("1e400x"));
}

TEST_CASE("a number too large for a double is an error, not 0 or infinity") {
  CHECK(scalar("1e400").error() == "number out of range: '1e400' is beyond what a double holds (about 1.8e308)");
  CHECK(scalar("-1e400").error() == "number out of range: '-1e400' is beyond what a double holds (about 1.8e308)");
  CHECK(scalar(std::string(400, '9')).error() ==
        "number out of range: '" + std::string(40, '9') + "...' is beyond what a double holds (about 1.8e308)");
}

TEST_CASE("yaml_to_json reports a number out of range at its position and path") {
  Reporter reporter("f.yaml");
  const YAML::Node doc = YAML::Load("a: 1\nb: [2, 1e999]\n");
  const Json out = yaml_to_json(reporter, Field{YAML::Node(), doc, "with"});
  auto diagnostics = reporter.take();
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics[0].to_string() ==
        "f.yaml:2:8: with.b[1]: number out of range: '1e999' is beyond what a double holds (about 1.8e308)");
  CHECK(out["a"] == 1);
}
