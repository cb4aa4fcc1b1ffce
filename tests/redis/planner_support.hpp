#pragma once
// What the planner tests share: a flow planned from YAML, the script arguments an OpList makes,
// and their shape (each operation as its opcode and first argument).
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/redis/op_chunks.hpp"
#include "core/redis/planner.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"

namespace am2z::redis::planner_testing {

inline std::shared_ptr<const PlannedFlow> plan(const std::string& yaml) {
  ProcessorRegistry registry;
  register_builtins(registry);
  LoadResult loaded = load_flow_text(yaml, "test.yaml", registry, ".");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().to_string()));
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace{});
}

inline std::vector<std::string> argv_of(OpList& ops) {
  std::vector<std::string> argv;
  ops.append_to(argv);
  return argv;
}

/// The operations of an argv, as opcode followed by its first argument (the queue or key).
inline std::vector<std::string> shape(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < argv.size();) {
    const std::string& op = argv[i];
    REQUIRE((op == "G" || op_arity(op) > 0));
    out.push_back(op == "G" ? "G" : op + " " + argv[i + 1]);
    i += 1 + op_arity(op);
  }
  return out;
}

inline Envelope run_envelope() {
  Envelope e;
  e.run = "r1";
  e.reply = "reply";
  return e;
}

inline State state_of(Json data) {
  State s;
  s.data = std::move(data);
  s.meta.session_id = "s1";
  return s;
}

inline const char* const kFlow = R"(
version: 1
name: f
processors:
  a: {use: set, with: {values: {a: 1}}}
  b: {use: set, with: {values: {b: 1}}}
  c: {use: set, with: {values: {c: 1}}}
flow:
  chain:
    - a
    - parallel: [b, c]
    - route: .kind
      cases: {x: a}
      default: b
)";

}  // namespace am2z::redis::planner_testing
