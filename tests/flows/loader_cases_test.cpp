// The loader, continued from loader_test.cpp: runs, routes, cycles, names, documents and files.
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

TEST_CASE("a loaded flow runs") {
  auto r = load(R"(version: 1
name: t
processors:
  first: {use: put, with: {key: a, value: 1}}
flows:
  both:
    parallel: [{use: put, with: {key: b, value: two}}, {use: put, with: {key: c, value: [3]}}]
flow:
  chain:
    - first
    - both
    - route: .a
      cases:
        1: {use: put, with: {key: routed, value: true}}
)");
  REQUIRE(r.ok());
  RunOutcome out = run_flow(r.flow, State::create("session"), RunOptions{});
  CAPTURE(out.error ? out.error->message : std::string());
  REQUIRE(out.ok());
  CHECK(out.state.data == Json::parse(R"({"a": 1, "b": "two", "c": [3], "routed": true})"));
}

TEST_CASE("with: must be a map") {
  auto r = load(R"(version: 1
name: t
processors:
  a: {use: log, with: [1]}
flow: a
)");
  REQUIRE(r.diagnostics.size() == 1);
  check_diag(r.diagnostics[0], 4, 17, "processors.a.with", "expected a map of parameters, got a list");
}

TEST_CASE("empty chains and parallels") {
  auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flows:
  empty_par: {parallel: []}
flow:
  chain: []
)");
  REQUIRE(r.diagnostics.size() == 2);
  check_diag(r.diagnostics[0], 6, 15, "flows.empty_par.parallel", "parallel must not be empty");
  check_diag(r.diagnostics[1], 8, 3, "flow.chain", "chain must not be empty");
}

TEST_CASE("routes") {
  SUBCASE("no cases and no default") {
    auto r = load(R"(version: 1
name: t
flow:
  route: .status
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 3, 1, "flow", "route needs at least one case or a default");
  }
  SUBCASE("an empty cases map and no default") {
    auto r = load(R"(version: 1
name: t
flow: {route: .status, cases: {}}
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 3, 24, "flow.cases", "route needs at least one case or a default");
  }
  SUBCASE("only a default is fine") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flow: {route: .status, default: a}
)");
    REQUIRE(r.ok());
    const auto* route = dynamic_cast<const RouteNode*>(r.flow->root.get());
    REQUIRE(route != nullptr);
    CHECK(route->cases().empty());
    CHECK(route->fallback() == r.flow->find_callable("a"));
  }
  SUBCASE("a malformed selector path") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flow: {route: status, default: a}
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag_prefix(r.diagnostics[0], 5, 15, "flow.route", "invalid path 'status'");
  }
}

TEST_CASE("sub-flow cycles are named") {
  SUBCASE("between two sub-flows") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flows:
  first: {chain: [a, second]}
  second:
    parallel: [a, first]
flow: first
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 8, 19, "flows.second.parallel[1]", "sub-flow cycle: first -> second -> first");
  }
  SUBCASE("a sub-flow referring to itself") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flows:
  loop: {chain: [a, loop]}
flow: a
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 6, 21, "flows.loop.chain[1]", "sub-flow cycle: loop -> loop");
  }
  SUBCASE("a diamond is not a cycle, and the shared sub-flow is built once") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flows:
  top: {parallel: [left, right]}
  left: {chain: [shared]}
  right: {chain: [shared]}
  shared: {chain: [a]}
flow: top
)");
    REQUIRE(r.ok());
    const Node* left = r.flow->find_callable("left");
    const Node* right = r.flow->find_callable("right");
    CHECK(child(*left, 0) == child(*right, 0));
    CHECK(child(*left, 0) == r.flow->find_callable("shared"));
  }
}

TEST_CASE("duplicate names") {
  auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
  a: {use: exec}
flows:
  a: {chain: [a]}
flow: a
)");
  REQUIRE(r.diagnostics.size() == 2);
  check_diag(r.diagnostics[0], 5, 3, "processors.a", "duplicate key 'a' (first defined on line 4)");
  check_diag(r.diagnostics[1], 7, 3, "flows.a", "duplicate name 'a': already defined at test.yaml:4");
}

TEST_CASE("every mistake is reported in one pass, in file order") {
  auto r = load(R"(version: 2
name: t
defaults:
  timeout: soon
processors:
  a: {use: lgo}
  b: {use: log, rate: fast}
flow:
  chain: [a, b, c, {parallel: []}]
)");
  CHECK(r.flow == nullptr);
  REQUIRE(r.diagnostics.size() == 6);
  check_diag(r.diagnostics[0], 1, 10, "version", "unsupported version 2; this am2z reads version 1");
  check_diag_prefix(r.diagnostics[1], 4, 12, "defaults.timeout", "invalid duration 'soon'");
  check_diag(r.diagnostics[2], 6, 12, "processors.a.use", "unknown processor type 'lgo'; did you mean 'log'?");
  check_diag_prefix(r.diagnostics[3], 7, 23, "processors.b.rate", "invalid rate 'fast'");
  check_diag(r.diagnostics[4], 9, 17, "flow.chain[2]", "unknown processor or sub-flow 'c'");
  check_diag(r.diagnostics[5], 9, 21, "flow.chain[3].parallel", "parallel must not be empty");
}

TEST_CASE("malformed node shapes") {
  SUBCASE("two form keys") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flow: {chain: [a], parallel: [a]}
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 5, 20, "flow.parallel",
               "'parallel' cannot be combined with 'chain': a node has exactly one of chain, parallel, route, batch, "
               "flow, use");
  }
  SUBCASE("a list where a node belongs") {
    auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flow: [a, a]
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 5, 1, "flow",
               "expected a processor or sub-flow name, or a map with one of chain, parallel, route, batch, flow, use, "
               "got a list (write chain: [...] to run steps in order)");
  }
  SUBCASE("no form key at all") {
    auto r = load(R"(version: 1
name: t
flow: {name: x}
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 3, 1, "flow", "a node needs one of: chain, parallel, route, batch, flow, use");
  }
  SUBCASE("an empty node") {
    auto r = load(R"(version: 1
name: t
flow:
)");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 3, 1, "flow",
               "missing node: expected a processor or sub-flow name, or a map with one of chain, parallel, route, "
               "batch, flow, use");
  }
}

TEST_CASE("enumerated values suggest the intended one") {
  auto r = load(R"(version: 1
name: t
processors:
  a: {use: log}
flow:
  chain:
    - {parallel: [a], merge: deeep}
    - {batch: a, items: [1], mode: all, concurrency: 0}
    - {batch: a}
)");
  REQUIRE(r.diagnostics.size() == 4);
  check_diag(r.diagnostics[0], 7, 30, "flow.chain[0].merge", "unknown value 'deeep'; did you mean 'deep'?");
  check_diag(r.diagnostics[1], 8, 36, "flow.chain[1].mode", "unknown value 'all'; expected fail-fast or collect");
  check_diag(r.diagnostics[2], 8, 54, "flow.chain[1].concurrency", "must be at least 1, got 0");
  check_diag(r.diagnostics[3], 9, 7, "flow.chain[2]", "missing required key 'items'");
}

TEST_CASE("documents that are not flows") {
  SUBCASE("empty") {
    auto r = load("");
    REQUIRE(r.diagnostics.size() == 1);
    check_diag(r.diagnostics[0], 1, 1, "", "expected a flow: a map with version, name and flow, got nothing");
  }
  SUBCASE("missing everything required") {
    auto r = load("description: nothing else\n");
    REQUIRE(r.diagnostics.size() == 3);
    for (const auto& d : r.diagnostics) CHECK(d.line == 1);
    CHECK(r.diagnostics[0].message == "missing required key 'version'");
    CHECK(r.diagnostics[1].message == "missing required key 'name'");
    CHECK(r.diagnostics[2].message == "missing required key 'flow'");
  }
  SUBCASE("a YAML syntax error is reported at yaml-cpp's mark") {
    // The unterminated list on line 2 is noticed at the ':' of line 3.
    auto r = load("version: 1\nname: [a, b\nflow: x\n");
    REQUIRE(r.diagnostics.size() == 1);
    const Diagnostic& d = r.diagnostics[0];
    CHECK(d.file == "test.yaml");
    CHECK(d.line == 3);
    CHECK(d.column == 5);
    CHECK(d.path.empty());
    CHECK(d.message == "end of sequence flow not found");
  }
}

TEST_CASE("load_flow_file") {
  SUBCASE("an unreadable file is one diagnostic at line 0, printed without a position") {
    auto r = load_flow_file("/nonexistent/dir/flow.yaml", registry());
    CHECK(r.flow == nullptr);
    REQUIRE(r.diagnostics.size() == 1);
    const Diagnostic& d = r.diagnostics[0];
    CHECK(d.line == 0);
    CHECK(d.column == 0);
    CHECK(d.to_string() == "/nonexistent/dir/flow.yaml: the flow file does not exist");
  }
  SUBCASE("a directory, a device or a FIFO is not a flow file") {
    auto r = load_flow_file("/tmp", registry());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].to_string() == "/tmp: the flow file is a directory");
    r = load_flow_file("/dev/zero", registry());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].message == "the flow file is a character device, not a regular file");
  }
  SUBCASE("a file on disk: its path labels diagnostics and becomes the source") {
    char name[] = "/tmp/am2z_flows_test_XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    const std::string path = name;
    std::ofstream(path) << "version: 1\nname: disk\nprocessors:\n  a: {use: log}\nflow: a\n";
    auto r = load_flow_file(path, registry());
    REQUIRE(r.ok());
    CHECK(r.flow->source == path);
    CHECK(r.flow->name == "disk");
    std::ofstream(path) << "version: 1\nname: disk\nflow: b\n";
    r = load_flow_file(path, registry());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].to_string() == path + ":3:7: flow: unknown processor or sub-flow 'b'");
    std::remove(path.c_str());
  }
}

TEST_CASE("Diagnostic formats") {
  Diagnostic d{"f.yaml", 3, 7, "flow.chain[1]", "boom"};
  CHECK(d.to_string() == "f.yaml:3:7: flow.chain[1]: boom");
  CHECK(d.to_json() == Json{{"file", "f.yaml"},
                            {"line", 3},
                            {"column", 7},
                            {"path", "flow.chain[1]"},
                            {"message", "boom"},
                            {"severity", "error"}});
  d.path.clear();
  CHECK(d.to_string() == "f.yaml:3:7: boom");
}

TEST_CASE("names are letters, digits, '.', '_' and '-' (they become queue names)") {
  auto r = load(R"(version: 1
name: "my flow"
processors:
  "a:b": {use: log}
  "-x": {use: log}
  ok: {use: log}
flows:
  "": {chain: [ok]}
flow:
  chain:
    - {use: log, name: "bad name"}
    - {chain: [ok], name: "sub/flow"}
)");
  REQUIRE(r.diagnostics.size() == 6);
  check_diag(r.diagnostics[0], 2, 7, "name",
             "name 'my flow' may only contain letters, digits, '.', '_' and '-' (found ' ')");
  check_diag(r.diagnostics[1], 4, 3, "processors.a:b",
             "name 'a:b' may only contain letters, digits, '.', '_' and '-' (found ':')");
  check_diag(r.diagnostics[2], 5, 3, "processors.-x", "name '-x' must start with a letter or digit");
  check_diag(r.diagnostics[3], 8, 3, "flows.", "a name must not be empty");
  CHECK(r.diagnostics[4].message == "name 'bad name' may only contain letters, digits, '.', '_' and '-' (found ' ')");
  CHECK(r.diagnostics[5].message == "name 'sub/flow' may only contain letters, digits, '.', '_' and '-' (found '/')");
  CHECK(r.flow == nullptr);
}
