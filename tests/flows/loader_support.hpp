#pragma once
// What loader_test.cpp and loader_cases_test.cpp share: a registry of stand-in processor types
// (exec, log, set, put) whose factories check `with:` as real ones do, and diagnostic checks.
#include <doctest/doctest.h>

#include <string>

#include "flows/loader.hpp"

namespace am2z::loader_testing {

class Noop final : public Processor {
 public:
  Status process(State&, Context&) const override { return {}; }
};

inline Result<std::unique_ptr<Processor>> accept_anything(const Json&) { return std::make_unique<Noop>(); }

/// Like a real exec type: argv must be a list of strings.
inline Result<std::unique_ptr<Processor>> exec_factory(const Json& with) {
  const auto argv = with.find("argv");
  if (argv == with.end() || !argv->is_array() || argv->empty()) {
    return fail(errors::validation("argv", argv == with.end() ? Json() : *argv, "must be a list of strings"));
  }
  for (std::size_t i = 0; i < argv->size(); ++i) {
    if (!(*argv)[i].is_string()) {
      return fail(errors::validation("argv[" + std::to_string(i) + "]", (*argv)[i], "must be a string"));
    }
  }
  return std::make_unique<Noop>();
}

/// Sets data[key] = value: lets a test see that a loaded flow really runs.
class Put final : public Processor {
 public:
  Put(std::string key, Json value) : key_(std::move(key)), value_(std::move(value)) {}
  Status process(State& state, Context&) const override {
    state.data[key_] = value_;
    return {};
  }

 private:
  std::string key_;
  Json value_;
};

inline Result<std::unique_ptr<Processor>> put_factory(const Json& with) {
  if (!with.contains("key") || !with["key"].is_string()) {
    return fail(errors::validation("key", with.value("key", Json()), "must be a string"));
  }
  return std::make_unique<Put>(with["key"].get<std::string>(), with.value("value", Json()));
}

/// values.<key> must not be null.
inline Result<std::unique_ptr<Processor>> set_factory(const Json& with) {
  if (auto values = with.find("values"); values != with.end() && values->is_object()) {
    for (const auto& [key, value] : values->items()) {
      if (value.is_null()) return fail(errors::validation("values." + key, value, "must not be null"));
    }
  }
  return std::make_unique<Noop>();
}

inline const ProcessorRegistry& registry() {
  static const ProcessorRegistry r = [] {
    ProcessorRegistry out;
    out.add(ProcessorType{.name = "exec", .description = "runs a command", .create = exec_factory});
    out.add(ProcessorType{.name = "log", .description = "logs", .create = accept_anything});
    out.add(ProcessorType{.name = "set", .description = "sets values", .create = set_factory});
    out.add(ProcessorType{.name = "put", .description = "puts one value", .create = put_factory});
    return out;
  }();
  return r;
}

inline LoadResult load(const std::string& text) { return load_flow_text(text, "test.yaml", registry()); }

/// Checks one diagnostic completely.
inline void check_diag(const Diagnostic& d, int line, int column, const std::string& path, const std::string& message) {
  CAPTURE(d.to_string());
  CHECK(d.file == "test.yaml");
  CHECK(d.line == line);
  CHECK(d.column == column);
  CHECK(d.path == path);
  CHECK(d.message == message);
}

/// For messages whose wording comes from core parsers: the start is ours to pin down.
inline void check_diag_prefix(const Diagnostic& d, int line, int column, const std::string& path, const std::string& prefix) {
  CAPTURE(d.to_string());
  CHECK(d.line == line);
  CHECK(d.column == column);
  CHECK(d.path == path);
  CHECK(d.message.starts_with(prefix));
}

inline const Node* child(const Node& node, std::size_t i) {
  auto kids = node.children();
  REQUIRE(i < kids.size());
  return kids[i];
}

}  // namespace am2z::loader_testing
