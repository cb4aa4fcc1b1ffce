// am2z graph and am2z run --dry-run: the plan of a flow, drawn as DOT or Mermaid.
#include "flows/graph_export.hpp"

#include "flows/execution_plan.hpp"
#include "flows_test_support.hpp"

using namespace am2z;

namespace {

constexpr const char* kFlow = R"(version: 1
name: shapes
defaults: {timeout: 5s}
processors:
  a: {use: set, with: {values: {a: 1}}, retry: {attempts: 3, backoff: 200ms}}
  b: {use: log, with: {message: b}, concurrency: 2, rate: 10/s}
flows:
  sub: {chain: [b]}
flow:
  chain:
    - a
    - parallel: [a, b]
      merge: shallow
    - route: .a
      cases:
        "1": b
      default: a
    - batch: b
      items: .list
      concurrency: 2
      mode: collect
    - {flow: sub, input: {x: .a}, output: .out}
)";

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the plan spells out every node and policy") {
  auto r = test::load_builtin(kFlow);
  REQUIRE(r.ok());
  const Json plan = execution_plan(*r.flow);
  CHECK(plan["flow"] == "shapes");
  const Json& steps = plan["root"]["steps"];
  REQUIRE(steps.size() == 5);
  CHECK(steps[0] == Json::parse(R"({"kind": "processor", "name": "a", "type": "set", "timeout": "5s",
      "retry": {"attempts": 3, "backoff": "200ms", "multiplier": 2.0, "max_backoff": "30s"}})"));
  CHECK(steps[1]["kind"] == "parallel");
  CHECK(steps[1]["merge"] == "shallow");
  CHECK(steps[1]["branches"].size() == 2);
  CHECK(steps[2]["selector"] == ".a");
  CHECK(steps[2]["cases"][0]["value"] == "1");
  CHECK(steps[2]["default"]["name"] == "a");
  CHECK(steps[3]["items"] == ".list");
  CHECK(steps[3]["mode"] == "collect");
  CHECK(steps[3]["target"]["concurrency"] == 2);
  CHECK(steps[3]["target"]["rate"] == "10/1s");
  CHECK(steps[4]["kind"] == "call");
  CHECK(steps[4]["input"] == Json{{"x", ".a"}});
  CHECK(steps[4]["target"]["steps"][0]["name"] == "b");

  const std::string text = execution_plan_text(plan);
  CHECK(text.starts_with("flow shapes (test.yaml)\ninput: any JSON object\nchain flow\n"));
  CHECK(text.find("    1. a: set [timeout 5s, retry 3 attempts (backoff 200ms x2, max 30s)]\n") != std::string::npos);
  CHECK(text.find("        when 1: b: log [timeout 5s, concurrency 2, rate 10/1s]\n") != std::string::npos);
  CHECK(text.find("        otherwise: a: set") != std::string::npos);
  CHECK(text.find("    4. batch flow.chain[3] over .list (concurrency 2, collect, results to .batch)\n") !=
        std::string::npos);
  CHECK(text.find("    5. call sub-flow sub with input {\"x\":\".a\"}, output to .out\n") != std::string::npos);
}

TEST_CASE("DOT: sequence edges, fan-out and fan-in, labelled cases, batch marked") {
  auto r = test::load_builtin(kFlow);
  REQUIRE(r.ok());
  const std::string dot = export_graph(*r.flow, GraphFormat::dot);
  CHECK(dot.starts_with("digraph \"shapes\" {\n"));
  CHECK(dot.ends_with("}\n"));
  CHECK(dot.find("label=\"a\\nset\\ntimeout 5s, retry 3 attempts (backoff 200ms x2, max 30s)\", shape=box") !=
        std::string::npos);
  CHECK(count(dot, "shape=trapezium") == 1);  // parallel fork
  CHECK(count(dot, "shape=diamond") == 1);    // route
  CHECK(count(dot, "[label=\"1\"]") == 1);    // the case edge
  CHECK(count(dot, "[label=\"default\", style=dashed]") == 1);
  CHECK(count(dot, "shape=box3d") == 2);  // batch head and its results
  CHECK(count(dot, "[label=\"each item\"]") == 1);
  CHECK(count(dot, "shape=component") == 1);  // the sub-flow call
}

TEST_CASE("Mermaid: a flowchart with the same vertices and edges") {
  auto r = test::load_builtin(kFlow);
  REQUIRE(r.ok());
  const std::string dot = export_graph(*r.flow, GraphFormat::dot);
  const std::string mermaid = export_graph(*r.flow, GraphFormat::mermaid);
  CHECK(mermaid.starts_with("flowchart TD\n"));
  CHECK(count(mermaid, " -->") + count(mermaid, " -.->") == count(dot, " -> "));
  CHECK(count(mermaid, "{\"route .a") == 1);
  CHECK(count(mermaid, "-->|\"1\"|") == 1);
  CHECK(count(mermaid, "-.->|\"default\"|") == 1);
  CHECK(count(mermaid, "[[\"batch ") == 1);
  CHECK(mermaid.find("(\"a<br/>set<br/>timeout 5s") != std::string::npos);
}

TEST_CASE("graph formats by name") {
  GraphFormat format{};
  CHECK(parse_graph_format("mermaid", format));
  CHECK(format == GraphFormat::mermaid);
  CHECK(parse_graph_format("dot", format));
  CHECK(format == GraphFormat::dot);
  CHECK_FALSE(parse_graph_format("svg", format));
}
