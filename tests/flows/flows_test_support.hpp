#pragma once
// What the flow-language tests share: the built-in registry, a scratch directory for files that
// include each other, and a way to run what was loaded.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/runner.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"

namespace am2z::test {

/// The registry with every built-in type, as the binary has it.
inline const ProcessorRegistry& builtin_registry() {
  static const ProcessorRegistry registry = [] {
    ProcessorRegistry r;
    register_builtins(r);
    return r;
  }();
  return registry;
}

/// Loads flow text with the built-in types; diagnostics name "test.yaml".
inline LoadResult load_builtin(const std::string& text) {
  return load_flow_text(text, "test.yaml", builtin_registry());
}

/// Does nothing: for processor types whose behaviour a test does not look at.
class NoopProcessor final : public Processor {
 public:
  Status process(State&, Context&) const override { return {}; }
};

/// A fresh directory under /tmp, removed with everything in it at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    char name[] = "/tmp/am2z_lang_test_XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path_ = name;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  /// Writes `text` to `relative` (creating directories); returns the full path.
  std::string write(const std::string& relative, const std::string& text) const {
    const std::filesystem::path file = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file.string();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Runs a loaded flow on `data`; fails the test when the run fails.
inline Json run_ok(const LoadResult& loaded, Json data = Json::object()) {
  CAPTURE(loaded.diagnostics.empty() ? std::string() : loaded.diagnostics.front().to_string());
  REQUIRE(loaded.ok());
  RunOutcome out = run_flow(loaded.flow, State::create("session", std::move(data)), RunOptions{});
  CAPTURE(out.error ? out.error->message : std::string());
  REQUIRE(out.ok());
  return out.state.data;
}

/// "file:line:col: path: message" of every diagnostic, for whole-list comparisons.
inline std::vector<std::string> lines_of(const LoadResult& loaded) {
  std::vector<std::string> out;
  for (const auto& d : loaded.diagnostics) out.push_back(d.to_string());
  return out;
}

}  // namespace am2z::test

/// Lists of diagnostics print one per line when a comparison fails.
template <>
struct doctest::StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& lines) {
    std::string out = "\n";
    for (const auto& line : lines) out += "  " + line + "\n";
    return String(out.c_str());
  }
};
