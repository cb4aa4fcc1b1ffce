// {flow: name, input: {...}, output: .path}: sub-flows called with a mapped input.
#include "flows/subflow_call.hpp"

#include "flows_test_support.hpp"

using namespace am2z;

namespace {

// The sub-flow adds .tax to whatever it received; with output: its whole data shows its input.
constexpr const char* kHeader = R"(version: 1
name: calls
processors:
  add-tax: {use: set, with: {values: {tax: 2}}}
flows:
  price: {chain: [add-tax]}
)";

Json run_with(const std::string& flow, Json data) {
  return test::run_ok(test::load_builtin(std::string(kHeader) + flow), std::move(data));
}

}  // namespace

TEST_CASE("the sub-flow receives the mapped input; its output lands at output:") {
  // Block style: in a flow-style map, '[' would end the plain scalar .order.lines[1].price.
  Json out = run_with(R"(flow:
  flow: price
  input:
    amount: .order.lines[1].price
    currency: EUR
    missing: .nope
  output: .priced
)",
                      Json::parse(R"({"order": {"lines": [{"price": 1}, {"price": 7}]}, "keep": true})"));
  CHECK(out == Json::parse(R"({"order": {"lines": [{"price": 1}, {"price": 7}]}, "keep": true,
                              "priced": {"amount": 7, "currency": "EUR", "tax": 2}})"));
}

TEST_CASE("without output: the sub-flow's output is deep-merged into the caller's data") {
  Json out =
      run_with("flow: {flow: price, input: {amount: .total}}\n", Json::parse(R"({"total": 3, "seen": {"x": 1}})"));
  CHECK(out == Json::parse(R"({"total": 3, "seen": {"x": 1}, "amount": 3, "tax": 2})"));
}

TEST_CASE("without input: the sub-flow sees the whole data") {
  Json out = run_with("flow: {flow: price, output: .result}\n", Json::parse(R"({"a": 1})"));
  CHECK(out == Json::parse(R"({"a": 1, "result": {"a": 1, "tax": 2}})"));
}

TEST_CASE("sub-flow call mistakes") {
  auto r = test::load_builtin(std::string(kHeader) + R"(flow:
  chain:
    - {flow: prcie}
    - {flow: add-tax}
    - {flow: price, input: {a: .bad..path}, output: nowhere, extra: 1}
    - {flow: price, input: [a]}
)");
  CHECK(
      test::lines_of(r) ==
      std::vector<std::string>{
          "test.yaml:9:14: flow.chain[0].flow: unknown sub-flow 'prcie'; did you mean 'price'?",
          "test.yaml:10:14: flow.chain[1].flow: unknown sub-flow 'add-tax'; 'add-tax' is a processor instance: name it "
          "directly instead of {flow: ...}",
          "test.yaml:11:32: flow.chain[2].input.a: invalid path '.bad..path' at character 6: expected a key name "
          "after '.'",
          "test.yaml:11:53: flow.chain[2].output: invalid path 'nowhere' at character 1: a path starts with '.' "
          "(the root is '.')",
          "test.yaml:11:62: flow.chain[2].extra: unknown key 'extra'; expected one of: flow, input, output, name, "
          "timeout",
          "test.yaml:12:21: flow.chain[3].input: expected a map of the sub-flow's input (key: .path or value), got "
          "a list",
      });
}

TEST_CASE("deep_merge merges maps and replaces everything else") {
  Json target = Json::parse(R"({"a": {"b": 1, "c": [1]}, "d": 1})");
  deep_merge(target, Json::parse(R"({"a": {"c": [2], "e": 3}, "d": {"x": 1}})"));
  CHECK(target == Json::parse(R"({"a": {"b": 1, "c": [2], "e": 3}, "d": {"x": 1}})"));
}

TEST_CASE("paths: indexes and quoted keys select, bad paths are located") {
  auto r = test::load_builtin(R"(version: 1
name: paths
flow:
  chain:
    - route: .lines[0].sku
      cases:
        A-1: {use: set, with: {values: {by_index: true}}}
    - route: ."odd key".x
      cases:
        yes: {use: set, with: {values: {by_quoted_key: true}}}
)");
  Json out = test::run_ok(r, Json::parse(R"({"lines": [{"sku": "A-1"}], "odd key": {"x": "yes"}})"));
  CHECK(out["by_index"] == true);
  CHECK(out["by_quoted_key"] == true);

  auto bad =
      test::load_builtin("version: 1\nname: p\nflow:\n  route: .lines[x]\n  default: {use: log, with: {message: m}}\n");
  CHECK(test::lines_of(bad) == std::vector<std::string>{"test.yaml:4:10: flow.route: invalid path '.lines[x]' at "
                                                        "character 8: expected an array index such as [0]"});
}
