// The plugin loader refuses what it cannot use with a message naming the file, and runs what it can.
#include "plugins/plugin_loader.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "../core/test_support.hpp"
#include "plugin_harness.hpp"

using namespace am2z;

namespace {

const ProcessorType& type_named(const LoadedPlugin& plugin, const std::string& name) {
  for (const auto& t : plugin.types) {
    if (t.name == name) return t;
  }
  FAIL("no type " << name);
  throw 0;
}

std::string temp_file(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << content;
  return path.string();
}

}  // namespace

TEST_CASE("a plugin built with the SDK loads with every type, schema and origin") {
  auto loaded = load_plugin(AM2Z_TEST_GOOD_PLUGIN);
  REQUIRE(loaded);
  CHECK(loaded->types.size() == 5);
  const auto& greet = type_named(*loaded, "greet");
  CHECK(greet.description == "Greets .name");
  CHECK(greet.origin == std::string("plugin:") + AM2Z_TEST_GOOD_PLUGIN);
  CHECK(greet.params_schema["properties"]["greeting"]["type"] == "string");
  CHECK(type_named(*loaded, "declined").params_schema == Json::object());
}

TEST_CASE("a plugin processor transforms the state and sees the step's identity") {
  auto loaded = load_plugin(AM2Z_TEST_GOOD_PLUGIN);
  REQUIRE(loaded);
  auto processor = type_named(*loaded, "greet").create(Json{{"greeting", "hi"}});
  REQUIRE(processor);
  test::Harness h(SteadyClock::now() + std::chrono::seconds(5), 2);
  State state = State::create("sess-1", Json{{"name", "Ada"}});
  REQUIRE((*processor)->process(state, h.ctx));
  CHECK(state.data["message"] == "hi Ada");
  CHECK(state.data["seen"]["session"] == "sess-1");
  CHECK(state.data["seen"]["execution"] == "run-1/7");
  CHECK(state.data["seen"]["processor"] == "step");
  CHECK(state.data["seen"]["attempt"] == 2);
  CHECK(state.data["seen"]["cancelled"] == false);
  CHECK(state.data["seen"]["has_deadline"] == true);
}

TEST_CASE("a plugin's typed error becomes that error and leaves the state untouched") {
  auto loaded = load_plugin(AM2Z_TEST_GOOD_PLUGIN);
  REQUIRE(loaded);
  test::Harness h;
  State state = State::create("s", Json{{"x", 1}});

  auto declined = type_named(*loaded, "declined").create(nullptr);
  REQUIRE(declined);
  auto st = (*declined)->process(state, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().name == "BusinessError");
  CHECK(st.error().code == "PAYMENT_DECLINED");
  CHECK(st.error().message == "card declined");
  CHECK_FALSE(st.error().retryable);
  CHECK(st.error().context["details"]["amount"] == 42);
  CHECK(st.error().context["origin"] == std::string("plugin:") + AM2Z_TEST_GOOD_PLUGIN);
  CHECK(state.data == Json{{"x", 1}});

  auto flaky = type_named(*loaded, "flaky").create(nullptr);
  REQUIRE(flaky);
  st = (*flaky)->process(state, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().name == "NetworkError");
  CHECK(st.error().category == ErrorCategory::network);
  CHECK(st.error().retryable);

  auto throws = type_named(*loaded, "throws").create(nullptr);
  REQUIRE(throws);
  st = (*throws)->process(state, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "PLUGIN_EXCEPTION");
  CHECK(st.error().message == "boom");
}

TEST_CASE("a class processor reads its parameters; a bad one names the field") {
  auto loaded = load_plugin(AM2Z_TEST_GOOD_PLUGIN);
  REQUIRE(loaded);
  const auto& count = type_named(*loaded, "count");
  auto bad = count.create(Json{{"step", -1}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().name == "ValidationError");
  CHECK(bad.error().context["field"] == "step");
  CHECK(bad.error().message.find("must not be negative") != std::string::npos);

  auto good = count.create(Json{{"step", 5}});
  REQUIRE(good);
  auto sink = std::make_shared<test::CollectingSink>();
  test::Harness h;
  h.run.events = sink;
  State state = State::create("s", Json{{"count", 1}});
  REQUIRE((*good)->process(state, h.ctx));
  CHECK(state.data["count"] == 6);
  auto counted = sink->named("counted");
  REQUIRE(counted.size() == 1);
  CHECK(counted[0]["data"]["count"] == 6);
}

TEST_CASE("the loader refuses a plugin for another ABI version, naming both versions") {
  auto loaded = load_plugin(AM2Z_TEST_WRONG_ABI_PLUGIN);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().name == "ConfigurationError");
  const auto& m = loaded.error().message;
  CHECK(m.rfind(std::string("plugin '") + AM2Z_TEST_WRONG_ABI_PLUGIN + "': ", 0) == 0);
  CHECK(m.find("built for plugin ABI version 99, but this am2z loads ABI version 1") != std::string::npos);
}

TEST_CASE("the loader refuses a library without the entry point") {
  auto loaded = load_plugin(AM2Z_TEST_NO_ENTRY_PLUGIN);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message.find("not an am2z plugin: it exports no am2z_plugin_entry") != std::string::npos);
}

TEST_CASE("the loader refuses files that are not shared libraries, and missing files") {
  const std::string text = temp_file("am2z-not-a-library.so", "this is not ELF\n");
  auto loaded = load_plugin(text);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message.rfind("plugin '" + text + "': not a loadable shared library: ", 0) == 0);
  std::filesystem::remove(text);

  auto missing = load_plugin("/nonexistent/am2z/plugin.so");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "plugin '/nonexistent/am2z/plugin.so': No such file or directory");

  auto dir = load_plugin(std::filesystem::temp_directory_path().string());
  REQUIRE_FALSE(dir);
  CHECK(dir.error().message.find("not a regular file") != std::string::npos);
}

TEST_CASE("the loader refuses a plugin that declares one type twice") {
  auto loaded = load_plugin(AM2Z_TEST_TWICE_PLUGIN);
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message.find("declares processor type 'same' twice") != std::string::npos);
}

TEST_CASE("a private copy loads the file's current contents") {
  auto loaded = load_plugin(AM2Z_TEST_GOOD_PLUGIN, PluginLoadOptions{.private_copy = true});
  REQUIRE(loaded);
  CHECK(loaded->library->path() == AM2Z_TEST_GOOD_PLUGIN);
  CHECK(loaded->types.size() == 5);
}

TEST_CASE("the loader refuses a truncated library before dlopen could crash on it") {
  std::ifstream in(AM2Z_TEST_GOOD_PLUGIN, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t keep : {10, 100, 3000}) {
    CAPTURE(keep);
    const std::string path = temp_file("am2z-truncated.so", bytes.substr(0, keep));
    auto loaded = load_plugin(path);
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().message.rfind("plugin '" + path + "': not a loadable shared library: ", 0) == 0);
    std::filesystem::remove(path);
  }
  const std::string exe = temp_file("am2z-not-so.so", "");
  std::filesystem::copy_file("/bin/true", exe, std::filesystem::copy_options::overwrite_existing);
  auto loaded = load_plugin(exe);
  REQUIRE_FALSE(loaded);
  std::filesystem::remove(exe);
}
