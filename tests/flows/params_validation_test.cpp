// `with:` is checked against the processor type's params_schema, with positions and field paths.
#include "flows/params_validation.hpp"

#include "flows_test_support.hpp"

using namespace am2z;

TEST_CASE("invalid processor parameters are reported at the value, from the type's schema") {
  auto r = test::load_builtin(R"(version: 1
name: params
processors:
  run: {use: exec, with: {argv: [echo, 3], evn: {A: b}}}
  wait: {use: sleep, with: {}}
  boom: {use: fail, with: {error: netwrk, times: 0}}
  say: {use: log, with: {message: [not, text]}}
  put: {use: set, with: {values: [1]}}
  slow: {use: sleep, with: {duration: soon}}
flow: {chain: [run, wait, boom, say, put, slow]}
)");
  CHECK(test::lines_of(r) ==
        std::vector<std::string>{
            "test.yaml:4:40: processors.run.with.argv[1]: expected a string or a map with path, got 3",
            "test.yaml:4:44: processors.run.with.evn: unknown key 'evn'; did you mean 'env'?",
            "test.yaml:5:22: processors.wait.with.duration: missing required key 'duration'",
            "test.yaml:6:35: processors.boom.with.error: unknown value 'netwrk'; did you mean 'network'?",
            "test.yaml:6:50: processors.boom.with.times: must be at least 1, got 0",
            "test.yaml:7:26: processors.say.with.message: expected a string, got a list",
            "test.yaml:8:26: processors.put.with.values: expected a map, got a list",
            // What a schema cannot say (the text of a duration) is still the factory's to judge.
            "test.yaml:9:39: processors.slow.with.duration: Validation failed for field 'duration': invalid "
            "duration 'soon': expected a number and a unit, e.g. 500ms, 30s, 5m, 1h",
        });
}

TEST_CASE("inline processors are checked the same way") {
  auto r = test::load_builtin(R"(version: 1
name: inline
flow:
  chain:
    - {use: log, with: {message: hi, level: loud}}
)");
  CHECK(test::lines_of(r) == std::vector<std::string>{"test.yaml:5:45: flow.chain[0].with.level: unknown value "
                                                      "'loud'; expected debug, info, warn or error"});
}

TEST_CASE("a plugin's schema applies as soon as the type is registered") {
  ProcessorRegistry registry;
  register_builtins(registry);
  registry.add(ProcessorType{
      .name = "http",
      .description = "calls a URL",
      .params_schema = Json::parse(
          R"({"type": "object", "properties": {"url": {"type": "string", "pattern": "^https?://"}},
              "required": ["url"], "additionalProperties": false})"),
      .create = [](const Json&) -> Result<std::unique_ptr<Processor>> { return std::unique_ptr<Processor>(); },
      .origin = "test"});
  auto r = load_flow_text("version: 1\nname: p\nflow: {use: http, with: {url: ftp://x}}\n", "p.yaml", registry);
  CHECK(test::lines_of(r) ==
        std::vector<std::string>{"p.yaml:3:31: flow.with.url: does not match the pattern ^https?://"});
}

TEST_CASE("a type that publishes no params_schema takes any parameters") {
  ProcessorRegistry registry;
  registry.add(ProcessorType{.name = "free",
                             .description = "no schema",
                             .params_schema = Json(),
                             .create = [](const Json&) -> Result<std::unique_ptr<Processor>> {
                               return std::make_unique<test::NoopProcessor>();
                             },
                             .origin = "test"});
  auto r = load_flow_text("version: 1\nname: p\nflow: {use: free, with: {anything: [1]}}\n", "p.yaml", registry);
  CHECK(test::lines_of(r).empty());
}

TEST_CASE("a type whose params_schema does not compile is reported at use:") {
  ProcessorRegistry registry;
  registry.add(ProcessorType{
      .name = "odd",
      .description = "publishes a broken schema",
      .params_schema = Json{{"type", "objekt"}},
      .create = [](const Json&) -> Result<std::unique_ptr<Processor>> { return std::unique_ptr<Processor>(); },
      .origin = "test"});
  auto r = load_flow_text("version: 1\nname: p\nflow: {use: odd}\n", "p.yaml", registry);
  REQUIRE(r.diagnostics.size() == 1);
  CAPTURE(r.diagnostics[0].to_string());
  CHECK(r.diagnostics[0].to_string() ==
        "p.yaml:3:13: flow.use: processor type 'odd' publishes an invalid "
        "params_schema: invalid JSON Schema: Unrecognised JSON type name 'objekt'");
}

TEST_CASE("create_processor: the first violation as a ValidationError naming the field") {
  const ProcessorType* exec = test::builtin_registry().find("exec");
  REQUIRE(exec != nullptr);
  auto bad = create_processor(*exec, Json{{"argv", Json::array({"sh", 3})}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().context["field"] == "argv[1]");
  CHECK(bad.error().message == "Validation failed for field 'argv[1]': expected a string or a map with path, got 3");
  CHECK(create_processor(*exec, Json{{"argv", Json::array({"true"})}}));
}
