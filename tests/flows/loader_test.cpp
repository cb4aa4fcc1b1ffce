#include "flows/loader.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include "core/runner.hpp"
#include "tests/flows/loader_support.hpp"

using namespace am2z;
using namespace am2z::loader_testing;

TEST_CASE("a well-formed flow builds the right nodes, policies and callables") {
  auto r = load(R"(version: 1
name: order-flow
description: Handles orders
defaults:
  timeout: 30s
  retry: {attempts: 3, backoff: 100ms, multiplier: 2, max_backoff: 10s, jitter: 0.2, on: [NETWORK_ERROR, network]}
processors:
  validate:
    use: exec
    with: {argv: [python3, validate.py]}
    timeout: 5s
    concurrency: 4
    rate: 100/min
    description: checks the order
  charge:
    use: log
    retry: {attempts: 5}
  receipt: {use: log}
flows:
  payment: {chain: [charge, receipt], name: pay, timeout: 1m}
  alias: receipt
flow:
  chain:
    - validate
    - parallel: [payment, {use: log}, {use: log, name: audit}]
      merge: shallow
    - route: .status
      cases:
        true: receipt
        1: payment
        paid: {use: set, with: {values: {x: 1}}}
      default: receipt
    - batch: {use: exec, with: {argv: [echo]}}
      items: [1, two]
      concurrency: 2
      mode: collect
      output: .results
    - batch: receipt
      items: .orders
)");
  for (const auto& d : r.diagnostics) CAPTURE(d.to_string());
  REQUIRE(r.diagnostics.empty());
  REQUIRE(r.ok());
  const Flow& flow = *r.flow;
  CHECK(flow.name == "order-flow");
  CHECK(flow.description == "Handles orders");
  CHECK(flow.source == "test.yaml");

  SUBCASE("named processors and their policies") {
    REQUIRE(flow.processors.size() == 3);
    const ProcessorInstance& validate = *flow.processors.at("validate");
    CHECK(validate.name == "validate");
    CHECK(validate.type == "exec");
    CHECK(validate.with == Json::parse(R"({"argv": ["python3", "validate.py"]})"));
    CHECK(validate.impl != nullptr);
    CHECK(validate.policy.timeout == Millis(5000));
    CHECK(validate.policy.retry.attempts == 3);
    CHECK(validate.policy.retry.initial_backoff == Millis(100));
    CHECK(validate.policy.retry.multiplier == 2.0);
    CHECK(validate.policy.retry.max_backoff == Millis(10000));
    CHECK(validate.policy.retry.jitter == doctest::Approx(0.2));
    CHECK(validate.policy.retry.on_codes == std::vector<std::string>{"NETWORK_ERROR"});
    CHECK(validate.policy.retry.on_categories == std::vector<ErrorCategory>{ErrorCategory::network});
    CHECK(validate.policy.concurrency == 4);
    CHECK(validate.policy.rate.count == 100);
    CHECK(validate.policy.rate.per == Millis(60000));
    CHECK(validate.concurrency != nullptr);
    CHECK(validate.rate != nullptr);

    // Own retry replaces the default one entirely; the default timeout still applies.
    const ProcessorInstance& charge = *flow.processors.at("charge");
    CHECK(charge.policy.timeout == Millis(30000));
    CHECK(charge.policy.retry.attempts == 5);
    CHECK(charge.policy.retry.on_codes.empty());
    CHECK(charge.policy.retry.on_categories.empty());
    CHECK(charge.policy.retry.jitter == 0.0);
    CHECK(charge.concurrency == nullptr);
    CHECK(charge.rate == nullptr);
  }

  SUBCASE("callables: a leaf per instance and each sub-flow, shared with references") {
    CHECK(flow.callables.size() == 5);
    const Node* payment = flow.find_callable("payment");
    REQUIRE(payment != nullptr);
    CHECK(payment->kind() == NodeKind::chain);
    CHECK(payment->label() == "pay");
    CHECK(payment->timeout == Millis(60000));
    CHECK(flow.find_callable("alias") == flow.find_callable("receipt"));
    CHECK(flow.find_callable("receipt")->kind() == NodeKind::processor);
    CHECK(flow.find_callable("receipt")->label() == "receipt");
  }

  SUBCASE("the root graph") {
    const Node& root = *flow.root;
    CHECK(root.kind() == NodeKind::chain);
    CHECK(root.label() == "flow");
    CHECK_FALSE(root.timeout.has_value());
    REQUIRE(root.children().size() == 5);
    CHECK(child(root, 0) == flow.find_callable("validate"));

    const auto* par = dynamic_cast<const ParallelNode*>(child(root, 1));
    REQUIRE(par != nullptr);
    CHECK(par->label() == "flow.chain[1]");
    CHECK(par->merge() == MergeStrategy::shallow);
    CHECK(child(*par, 0) == flow.find_callable("payment"));
    CHECK(child(*par, 1)->label() == "log#1");
    CHECK(child(*par, 2)->label() == "audit");
    const auto* inline_log = dynamic_cast<const ProcessorNode*>(child(*par, 1));
    REQUIRE(inline_log != nullptr);
    CHECK(inline_log->instance().policy.timeout == Millis(30000));  // defaults reach inline instances

    const auto* route = dynamic_cast<const RouteNode*>(child(root, 2));
    REQUIRE(route != nullptr);
    CHECK(route->selector().text() == ".status");
    REQUIRE(route->cases().size() == 3);
    CHECK(route->cases()[0].first == "true");
    CHECK(route->cases()[0].second.get() == flow.find_callable("receipt"));
    CHECK(route->cases()[1].first == "1");
    CHECK(route->cases()[1].second.get() == flow.find_callable("payment"));
    CHECK(route->cases()[2].first == "paid");
    CHECK(route->cases()[2].second->label() == "set#1");
    CHECK(route->fallback() == flow.find_callable("receipt"));

    const auto* batch = dynamic_cast<const BatchNode*>(child(root, 3));
    REQUIRE(batch != nullptr);
    CHECK(batch->spec().items == Json::parse(R"([1, "two"])"));
    CHECK_FALSE(batch->spec().items_path.has_value());
    CHECK(batch->spec().concurrency == 2);
    CHECK(batch->spec().mode == BatchMode::collect);
    CHECK(batch->spec().output.text() == ".results");
    CHECK(child(*batch, 0)->label() == "exec#1");

    const auto* batch2 = dynamic_cast<const BatchNode*>(child(root, 4));
    REQUIRE(batch2 != nullptr);
    CHECK_FALSE(batch2->spec().items.has_value());
    REQUIRE(batch2->spec().items_path.has_value());
    CHECK(batch2->spec().items_path->text() == ".orders");
    CHECK(batch2->spec().concurrency == 8);
    CHECK(batch2->spec().mode == BatchMode::fail_fast);
    CHECK(batch2->spec().output.text() == ".batch");
    CHECK(batch2->label() == "flow.chain[4]");
  }
}

TEST_CASE("with: scalars are typed by YAML style and core-schema rules") {
  auto r = load(R"(version: 1
name: t
processors:
  p:
    use: log
    with:
      quoted: "1"
      single: '2'
      int: 1
      neg: -7
      hex: 0x10
      float: 1.5
      exp: 1e3
      yes: true
      no: False
      nothing: ~
      empty:
      word: hello
      version: 1.2.3
      big: 99999999999999999999
      tagged: !!str 5
      list: [1, "a", null]
      nested: {a: {b: [x]}}
flow: p
)");
  REQUIRE(r.ok());
  const Json& with = r.flow->processors.at("p")->with;
  CHECK(with["quoted"] == "1");
  CHECK(with["single"] == "2");
  CHECK(with["int"].is_number_integer());
  CHECK(with["int"] == 1);
  CHECK(with["neg"] == -7);
  CHECK(with["hex"] == 16);
  CHECK(with["float"].is_number_float());
  CHECK(with["float"] == 1.5);
  CHECK(with["exp"] == 1000.0);
  CHECK(with["yes"] == true);
  CHECK(with["no"] == false);
  CHECK(with["nothing"].is_null());
  CHECK(with["empty"].is_null());
  CHECK(with["word"] == "hello");
  CHECK(with["version"] == "1.2.3");
  CHECK(with["big"].is_number_float());
  CHECK(with["tagged"] == "5");
  CHECK(with["list"] == Json::parse(R"([1, "a", null])"));
  CHECK(with["nested"] == Json::parse(R"({"a": {"b": ["x"]}})"));
}

TEST_CASE("unknown keys are reported with a suggestion") {
  SUBCASE("in a processor") {
    auto r = load(R"(version: 1
name: t
processors:
  validate:
    use: log
    timout: 5s
flow: validate
)");
    REQUIRE(r.diagnostics.size() == 1);
    CHECK_FALSE(r.ok());
    CHECK(r.flow == nullptr);
    check_diag(r.diagnostics[0], 6, 5, "processors.validate.timout", "unknown key 'timout'; did you mean 'timeout'?");
  }
  SUBCASE("at the top level, together with the missing key it was meant to be") {
    auto r = load(R"(version: 1
name: t
processors:
  validate: {use: log}
flwo: validate
)");
    REQUIRE(r.diagnostics.size() == 2);
    check_diag(r.diagnostics[0], 1, 1, "", "missing required key 'flow'");
    check_diag(r.diagnostics[1], 5, 1, "flwo", "unknown key 'flwo'; did you mean 'flow'?");
  }
  SUBCASE("in a node whose form key is misspelt") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flow: {chian: [a]}
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 5, 8, "flow.chian", "unknown key 'chian'; did you mean 'chain'?");
  }
  SUBCASE("in a chain node, and without a close match") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flow:
  chain: [a]
  nmae: main
  colour: red
)");
    REQUIRE(r.diagnostics.size() == 2);
    check_diag(r.diagnostics[0], 7, 3, "flow.nmae", "unknown key 'nmae'; did you mean 'name'?");
    check_diag(r.diagnostics[1], 8, 3, "flow.colour", "unknown key 'colour'; expected one of: chain, name, timeout");
  }
  SUBCASE("in a retry policy") {
    auto r = load(R"(version: 1
name: t
defaults:
  retry: {atempts: 3}
processors:
  a: {use: log}
flow: a
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 4, 11, "defaults.retry.atempts", "unknown key 'atempts'; did you mean 'attempts'?");
  }
}

TEST_CASE("values of the wrong type") {
  auto r = load(R"(version: 1
name: [a, b]
processors:
  validate:
    use: log
    concurrency: many
  other:
    use: log
    retry: 3
  third: log
flow: validate
)");
  REQUIRE(r.diagnostics.size() == 4);
  check_diag(r.diagnostics[0], 2, 1, "name", "expected a string, got a list");
  check_diag(r.diagnostics[1], 6, 18, "processors.validate.concurrency", "expected an integer, got 'many'");
  check_diag(r.diagnostics[2], 9, 12, "processors.other.retry", "expected a retry policy map, got '3'");
  check_diag(r.diagnostics[3], 10, 10, "processors.third",
             "expected a processor instance map {use: ..., with: ...}, got 'log'");
}

TEST_CASE("a quoted number is a string, not an integer") {
  auto r = load(R"(version: "1"
name: t
processors:
  a: {use: log}
flow: a
)");
  REQUIRE(r.diagnostics.size() == 1);
  check_diag(r.diagnostics[0], 1, 10, "version", "expected an integer, got the quoted string '1'");
}

TEST_CASE("bad durations, rates and numbers carry the reason") {
  auto r = load(R"(version: 1
name: t
processors:
  a:
    use: log
    timeout: 5x
    rate: 100/fortnight
    concurrency: 0
    retry: {attempts: 0, multiplier: 0.5, jitter: 2, backoff: [1]}
flow: a
)");
  REQUIRE(r.diagnostics.size() == 7);
  check_diag_prefix(r.diagnostics[0], 6, 14, "processors.a.timeout", "invalid duration '5x'");
  check_diag_prefix(r.diagnostics[1], 7, 11, "processors.a.rate", "invalid rate '100/fortnight'");
  check_diag(r.diagnostics[2], 8, 18, "processors.a.concurrency", "must be at least 1, got 0");
  check_diag(r.diagnostics[3], 9, 23, "processors.a.retry.attempts", "must be at least 1, got 0");
  check_diag(r.diagnostics[4], 9, 38, "processors.a.retry.multiplier", "must be at least 1, got 0.5");
  check_diag(r.diagnostics[5], 9, 51, "processors.a.retry.jitter", "must be between 0 and 1, got 2");
  check_diag(r.diagnostics[6], 9, 54, "processors.a.retry.backoff",
             "expected a duration such as 500ms, 30s, 5m or 1h, got a list");
}

TEST_CASE("timeouts must be positive and paths must parse") {
  auto r = load(R"(version: 1
name: t
processors:
  a: {use: log, timeout: 0}
flow: {route: ".x[99999999999999999999999]", default: a, timeout: 0ms}
)");
  REQUIRE(r.diagnostics.size() == 3);
  check_diag(r.diagnostics[0], 4, 26, "processors.a.timeout", "a timeout must be greater than 0");
  check_diag_prefix(r.diagnostics[1], 5, 15, "flow.route", "invalid path '.x[99999999999999999999999]'");
  check_diag(r.diagnostics[2], 5, 67, "flow.timeout", "a timeout must be greater than 0");
}

TEST_CASE("unknown processor references") {
  SUBCASE("with a close name") {
    auto r = load(R"(version: 1
name: t
processors:
  charge: {use: log}
flow:
  chain: [charge, chrage]
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 6, 19, "flow.chain[1]",
               "unknown processor or sub-flow 'chrage'; did you mean 'charge'?");
  }
  SUBCASE("naming a processor type instead of an instance") {
    auto r = load(R"(version: 1
name: t
flow: exec
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(
        r.diagnostics[0], 3, 7, "flow",
        "unknown processor or sub-flow 'exec'; 'exec' is a processor type: declare an instance under processors, "
        "or write {use: exec}");
  }
  SUBCASE("in a sub-flow and a route case") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flows:
  payment: {chain: [a, nope]}
flow:
  route: .status
  cases:
    paid: payment
    late: payement
)");
    REQUIRE(r.diagnostics.size() == 2);
    check_diag(r.diagnostics[0], 6, 24, "flows.payment.chain[1]", "unknown processor or sub-flow 'nope'");
    check_diag(r.diagnostics[1], 11, 11, "flow.cases.late",
               "unknown processor or sub-flow 'payement'; did you mean 'payment'?");
  }
}

TEST_CASE("unknown processor types") {
  auto r = load(R"(version: 1
name: t
processors:
  charge: {use: exce}
  other: {use: zzz}
flow:
  chain: [charge, other, {use: lgo}]
)");
  REQUIRE(r.diagnostics.size() == 3);
  check_diag(r.diagnostics[0], 4, 17, "processors.charge.use", "unknown processor type 'exce'; did you mean 'exec'?");
  check_diag(r.diagnostics[1], 5, 16, "processors.other.use",
             "unknown processor type 'zzz'; available: exec, log, put, set");
  check_diag(r.diagnostics[2], 7, 32, "flow.chain[2].use", "unknown processor type 'lgo'; did you mean 'log'?");
}

TEST_CASE("a factory's ValidationError points at the with: value it names") {
  auto r = load(R"(version: 1
name: t
processors:
  validate:
    use: exec
    with: {argv: [python3, 42]}
  build:
    use: exec
    with:
      argv:
        - make
        - [all]
  bare: {use: exec}
  setter:
    use: set
    with:
      values:
        x:
flow:
  chain: [validate, build, bare, setter, {use: exec, with: {argv: []}}]
)");
  REQUIRE(r.diagnostics.size() == 5);
  check_diag(r.diagnostics[0], 6, 28, "processors.validate.with.argv[1]",
             "Validation failed for field 'argv[1]': must be a string");
  check_diag(r.diagnostics[1], 12, 11, "processors.build.with.argv[1]",
             "Validation failed for field 'argv[1]': must be a string");
  // No with: at all: the processor's own name.
  check_diag(r.diagnostics[2], 13, 3, "processors.bare.with.argv",
             "Validation failed for field 'argv': must be a list of strings");
  check_diag(r.diagnostics[3], 18, 9, "processors.setter.with.values.x",
             "Validation failed for field 'values.x': must not be null");
  check_diag(r.diagnostics[4], 20, 61, "flow.chain[4].with.argv",
             "Validation failed for field 'argv': must be a list of strings");
}

TEST_CASE("map keys must be unique strings") {
  auto r = load(R"(version: 1
name: t
processors:
  a:
    use: log
    with:
      x: 1
      x: 2
      ? [k]
      : v
flow: a
)");
  REQUIRE(r.diagnostics.size() == 2);
  check_diag(r.diagnostics[0], 8, 7, "processors.a.with.x", "duplicate key 'x' (first defined on line 7)");
  check_diag(r.diagnostics[1], 9, 9, "processors.a.with", "map keys must be strings, got a list");
}
