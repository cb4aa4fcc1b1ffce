// What a processor type declares about itself, rather than what its name or schema suggests:
// the directory parameter that resolves against the flow file, and where its steps run.
#include "flows/loader.hpp"
#include "flows_test_support.hpp"

using namespace am2z;

namespace {

class Nothing final : public Processor {
 public:
  Status process(State&, Context&) const override { return {}; }
};

/// A type whose schema has a `cwd` property; `declares` says whether it names it as its directory.
ProcessorType type_with_cwd(const char* name, bool declares) {
  ProcessorType t;
  t.name = name;
  t.params_schema = Json::parse(R"({"type": "object", "properties": {"cwd": {"type": "string"}}})");
  t.create = [](const Json&) -> Result<std::unique_ptr<Processor>> { return std::make_unique<Nothing>(); };
  if (declares) t.flow_dir_param = "cwd";
  return t;
}

const Json& with_of(const LoadResult& r, const std::string& instance) {
  return r.flow->processors.at(instance)->with;
}

}  // namespace

TEST_CASE("only the directory parameter a type declares resolves against the flow's folder") {
  ProcessorRegistry registry;
  registry.add(type_with_cwd("declared", true));
  registry.add(type_with_cwd("undeclared", false));
  const std::string text = R"(version: 1
name: dirs
processors:
  a: {use: declared}
  b: {use: declared, with: {cwd: sub}}
  c: {use: declared, with: {cwd: /abs}}
  d: {use: undeclared, with: {cwd: sub}}
flow: {chain: [a, b, c, d]}
)";
  auto r = load_flow_text(text, "/flows/dirs.yaml", registry, "/flows");
  REQUIRE(r.ok());
  CHECK(with_of(r, "a")["cwd"] == "/flows");
  CHECK(with_of(r, "b")["cwd"] == "/flows/sub");
  CHECK(with_of(r, "c")["cwd"] == "/abs");
  CHECK(with_of(r, "d")["cwd"] == "sub");  // a schema property named cwd is not a declaration
}

TEST_CASE("exec declares cwd; remote steps run on the queue they name, others in-process") {
  const ProcessorRegistry& builtins = test::builtin_registry();
  CHECK(builtins.find("exec")->flow_dir_param == "cwd");
  CHECK(builtins.find("http")->flow_dir_param.empty());
  auto r = test::load_builtin(R"(version: 1
name: places
processors:
  away: {use: remote, with: {queue: images}}
  here: {use: set, with: {values: {a: 1}}}
flow: {chain: [away, here]}
)");
  REQUIRE(r.ok());
  CHECK(r.flow->processors.at("away")->remote_queue() == std::optional<std::string>("images"));
  CHECK_FALSE(r.flow->processors.at("here")->remote_queue().has_value());
}
