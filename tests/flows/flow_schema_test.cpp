// `am2z schema` output: generated from the loader's key tables, and every example and fixture
// flow validates against it (YAML converted to JSON, checked with valijson).
#include "flows/flow_schema.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "flows/flow_format.hpp"
#include "flows/json_schema.hpp"
#include "flows/yaml_json.hpp"
#include "flows_test_support.hpp"

using namespace am2z;

namespace {

Json yaml_file_as_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  Reporter reporter(path);
  Json out = yaml_to_json(reporter, Field{YAML::Node(), YAML::Load(text.str()), ""});
  REQUIRE(reporter.count() == 0);
  return out;
}

std::vector<std::string> flow_files_under(const std::string& relative) {
  std::vector<std::string> out;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(AM2Z_SOURCE_DIR) + "/" + relative)) {
    if (entry.path().extension() == ".yaml") out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The committed schema/am2z-flow.schema.json, which e2e_schema proves equal to `am2z schema`.
const Json& committed_schema() {
  static const Json document = [] {
    std::ifstream in(AM2Z_SOURCE_DIR "/schema/am2z-flow.schema.json");
    return Json::parse(in, nullptr, /*allow_exceptions=*/false);
  }();
  return document;
}

const JsonSchema& schema() {
  static const JsonSchema compiled = *JsonSchema::compile(committed_schema());
  return compiled;
}

std::vector<std::string> violations(const Json& doc) {
  std::vector<std::string> out;
  for (const auto& v : schema().validate(doc)) out.push_back(v.pointer() + " " + v.message);
  return out;
}

}  // namespace

TEST_CASE("the committed schema is what flow_schema generates") {
  CHECK(committed_schema() == flow_schema(test::builtin_registry()));
}

TEST_CASE("every example flow and valid fixture validates against the schema") {
  std::vector<std::string> files = flow_files_under("examples/flows");
  REQUIRE(files.size() >= 2);
  // The fixtures directly in tests/e2e/fixtures are the valid ones; subdirectories hold mistakes.
  const std::string fixtures = std::string(AM2Z_SOURCE_DIR) + "/tests/e2e/fixtures";
  for (const auto& fixture : flow_files_under("tests/e2e/fixtures")) {
    if (std::filesystem::path(fixture).parent_path() == fixtures) files.push_back(fixture);
  }
  files.push_back(fixtures + "/language/contract.yaml");
  CHECK(files.size() >= 20);
  for (const auto& file : files) {
    CAPTURE(file);
    // Files under lib/ are libraries that others include: no name or flow of their own.
    if (file.find("/lib/") == std::string::npos)
      CHECK(test::lines_of(load_flow_file(file, test::builtin_registry())).empty());
    CHECK(violations(yaml_file_as_json(file)).empty());
  }
}

TEST_CASE("the schema rejects what the loader rejects") {
  CHECK_FALSE(violations(Json::parse(R"({"version": 1, "name": "x", "flow": "a", "flwos": {}})")).empty());
  CHECK_FALSE(violations(Json::parse(R"({"version": 2, "name": "x", "flow": "a"})")).empty());
  CHECK_FALSE(violations(Json::parse(R"({"version": 1, "name": "x", "flow": {"chain": []}})")).empty());
  CHECK_FALSE(violations(Json::parse(R"({"version": 1, "name": "x", "flow": {"use": "exec", "with": {"argv": "ls"}}})"))
                  .empty());
  CHECK_FALSE(
      violations(Json::parse(R"({"version": 1, "name": "x", "processors": {"p": {"use": "sleep"}}, "flow": "p"})"))
          .empty());
  CHECK_FALSE(violations(Json::parse(R"({"version": 1, "name": "x", "flow": {"use": "nope"}})")).empty());
  CHECK(
      violations(Json::parse(R"({"version": 1, "name": "x", "flow": {"flow": "sub", "input": {"a": ".b"}}})")).empty());
}

TEST_CASE("types without a params_schema still give a valid schema") {
  ProcessorRegistry registry;
  registry.add(ProcessorType{
      .name = "free", .description = "no schema", .params_schema = Json(), .create = nullptr, .origin = "test"});
  auto compiled = JsonSchema::compile(flow_schema(registry));
  REQUIRE(compiled);
  CHECK(compiled->validate(Json::parse(R"({"version": 1, "name": "x", "flow": {"use": "free", "with": {"a": 1}}})"))
            .empty());
}

TEST_CASE("one source of truth: every key the loader knows is in the schema, and nothing else") {
  const Json s = flow_schema(test::builtin_registry());
  auto keys_of = [](const Json& properties) {
    std::vector<std::string> out;
    for (const auto& item : properties.items()) out.push_back(item.key());
    std::sort(out.begin(), out.end());
    return out;
  };
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(keys_of(s["properties"]) == sorted(key_names(top_level_fields())));
  CHECK(keys_of(s["definitions"]["processor"]["properties"]) == sorted(key_names(processor_fields())));
  CHECK(keys_of(s["definitions"]["retry"]["properties"]) == sorted(key_names(retry_fields())));
  for (const auto& form : node_forms()) {
    CAPTURE(form.kind);
    CHECK(keys_of(s["definitions"]["node-" + form.kind]["properties"]) == sorted(key_names(form.fields)));
  }
  // Each processor type's with: schema is selected by use:.
  const Json& cases = s["definitions"]["processor"]["allOf"];
  REQUIRE(cases.size() == test::builtin_registry().names().size());
  for (const auto& c : cases) {
    const std::string type = c["if"]["properties"]["use"]["const"];
    CHECK(c["then"]["properties"]["with"] == test::builtin_registry().find(type)->params_schema);
  }
  CHECK(s["definitions"]["processor"]["properties"]["use"]["enum"] == Json(test::builtin_registry().names()));
}
