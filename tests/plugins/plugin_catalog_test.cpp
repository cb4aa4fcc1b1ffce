// The catalog keeps type names unique across the built-ins and plugins, and notices changes.
#include "plugins/plugin_catalog.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "plugin_harness.hpp"
#include "process_probe.hpp"

using namespace am2z;
namespace fs = std::filesystem;

TEST_CASE("plugin types join the built-ins; a redefinition names both origins") {
  PluginCatalog catalog(test::builtins());
  REQUIRE(catalog.add_file(AM2Z_TEST_GOOD_PLUGIN));
  REQUIRE(catalog.add_file(AM2Z_TEST_GOOD_PLUGIN));  // the same file twice is harmless
  auto registry = catalog.registry();
  REQUIRE(registry.find("greet") != nullptr);
  CHECK(registry.find("greet")->origin == std::string("plugin:") + AM2Z_TEST_GOOD_PLUGIN);
  CHECK(registry.find("exec")->origin == "builtin");

  auto dup = catalog.add_file(AM2Z_TEST_DUPLICATE_PLUGIN);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().message == std::string("plugin '") + AM2Z_TEST_DUPLICATE_PLUGIN +
                                   "': processor type 'greet' is already defined by plugin:" + AM2Z_TEST_GOOD_PLUGIN);

  auto builtin = catalog.add_file(AM2Z_TEST_BUILTIN_PLUGIN);
  REQUIRE_FALSE(builtin);
  CHECK(builtin.error().message.find("processor type 'set' is already defined (builtin)") != std::string::npos);
}

TEST_CASE("a plugin directory is scanned for *.so; refresh reports added, changed and removed plugins") {
  test::TempDir tmp;
  const fs::path dir_path = tmp.path();
  PluginCatalog catalog(test::builtins(), PluginLoadOptions{.private_copy = true});
  REQUIRE(catalog.add_search_path(":" + dir_path.string() + ":"));
  CHECK(catalog.files().empty());
  CHECK(catalog.refresh().empty());

  fs::copy_file(AM2Z_TEST_GOOD_PLUGIN, dir_path / "good.so");
  std::ofstream(dir_path / "notes.txt") << "ignored: not a .so";
  auto changes = catalog.refresh();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == PluginChange::Kind::added);
  CHECK(changes[0].describe().find("added plugin " + (dir_path / "good.so").string()) == 0);
  CHECK(catalog.registry().find("count") != nullptr);
  CHECK(catalog.refresh().empty());  // nothing changed since

  // A new build of the file (here: another library under the same name) is loaded anew.
  fs::remove(dir_path / "good.so");
  fs::copy_file(AM2Z_TEST_TWICE_PLUGIN, dir_path / "good.so");
  changes = catalog.refresh();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == PluginChange::Kind::failed);
  CHECK(changes[0].error.find("declares processor type 'same' twice") != std::string::npos);
  CHECK(catalog.registry().find("count") != nullptr);  // the old version stays

  fs::remove(dir_path / "good.so");
  changes = catalog.refresh();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == PluginChange::Kind::removed);
  CHECK(catalog.registry().find("count") == nullptr);
}

TEST_CASE("a search path entry that is not a directory is an error naming it") {
  PluginCatalog catalog(test::builtins());
  auto st = catalog.add_search_path("/nonexistent/am2z-plugins");
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("AM2Z_PLUGIN_PATH entry '/nonexistent/am2z-plugins' is not a directory") !=
        std::string::npos);
}
