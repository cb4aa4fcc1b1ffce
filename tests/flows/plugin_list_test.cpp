// A flow's `plugins:` list: each entry goes through the caller's hook before processors resolve.
#include "flows/plugin_list.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "flows/loader.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace plugin_list_test {

using namespace am2z;

namespace {

class Noop final : public Processor {
 public:
  Status process(State&, Context&) const override { return {}; }
};

/// Adds a type named after the file ("lib/a.so" -> "a"); "broken.so" fails.
Status fake_loader(const std::string& path, ProcessorRegistry& registry, std::vector<std::string>& seen) {
  seen.push_back(path);
  if (path.ends_with("broken.so")) {
    Error e = errors::configuration(path, "broken");
    e.message = "plugin '" + path + "': broken";
    return fail(std::move(e));
  }
  const auto slash = path.find_last_of('/');
  ProcessorType t;
  t.name = path.substr(slash + 1, path.size() - slash - 4);
  t.create = [](const Json&) -> Result<std::unique_ptr<Processor>> { return std::make_unique<Noop>(); };
  registry.add(std::move(t));
  return {};
}

}  // namespace

TEST_CASE("plugins: entries resolve against the flow's directory and their types become usable") {
  std::vector<std::string> seen;
  PluginHook hook = [&](const std::string& p, ProcessorRegistry& r) { return fake_loader(p, r, seen); };
  const ProcessorRegistry empty;
  auto loaded =
      load_flow_text("version: 1\nname: f\nplugins: [lib/a.so, /abs/b.so]\nflow: {chain: [{use: a}, {use: b}]}\n",
                     "f.yaml", empty, "/flows", hook);
  CHECK(loaded.diagnostics.empty());
  CHECK(loaded.ok());
  CHECK(seen == std::vector<std::string>{"/flows/lib/a.so", "/abs/b.so"});
  CHECK(loaded.plugins == seen);
  CHECK(empty.find("a") == nullptr);  // the caller's registry is not modified
}

TEST_CASE("plugins: a failing entry is a diagnostic at its line and column") {
  std::vector<std::string> seen;
  PluginHook hook = [&](const std::string& p, ProcessorRegistry& r) { return fake_loader(p, r, seen); };
  auto loaded = load_flow_text("version: 1\nname: f\nplugins:\n  - broken.so\n  - 5\nflow: {use: x}\n", "f.yaml",
                               ProcessorRegistry{}, "/d", hook);
  REQUIRE_FALSE(loaded.ok());
  REQUIRE(loaded.diagnostics.size() == 2);
  CHECK(loaded.diagnostics[0].to_string() == "f.yaml:4:5: plugins[0]: plugin '/d/broken.so': broken");
  CHECK(loaded.diagnostics[1].path == "flow.use");
  CHECK(seen == std::vector<std::string>{"/d/broken.so", "/d/5"});
}

TEST_CASE("plugins: not a list, or no hook to load them, is reported") {
  auto not_list =
      load_flow_text("version: 1\nname: f\nplugins: {a: 1}\nflow: {use: x}\n", "f.yaml", ProcessorRegistry{});
  REQUIRE_FALSE(not_list.ok());
  CHECK(not_list.diagnostics[0].path == "plugins");

  auto no_hook =
      load_flow_text("version: 1\nname: f\nplugins: [a.so]\nflow: {use: x}\n", "f.yaml", ProcessorRegistry{});
  REQUIRE_FALSE(no_hook.ok());
  CHECK(no_hook.diagnostics[0].to_string() == "f.yaml:3:11: plugins[0]: plugins cannot be loaded here");
}

}  // namespace plugin_list_test
