#include <doctest/doctest.h>

#include "plugin_harness.hpp"

using namespace am2z;

TEST_CASE("register_builtins adds every built-in type with a closed object schema") {
  const auto& registry = test::builtins();
  CHECK(registry.names() == std::vector<std::string>{"delete", "exec", "fail", "http", "log", "merge", "pick", "remote",
                                                     "set", "sleep", "validate"});
  for (const auto& name : registry.names()) {
    CAPTURE(name);
    const ProcessorType* t = registry.find(name);
    REQUIRE(t != nullptr);
    CHECK(t->origin == "builtin");
    CHECK_FALSE(t->description.empty());
    CHECK(static_cast<bool>(t->create));
    const Json& s = t->params_schema;
    CHECK(s["type"] == "object");
    CHECK(s["properties"].is_object());
    CHECK(s["required"].is_array());
    CHECK(s["additionalProperties"] == false);
    for (const auto& req : s["required"]) CHECK(s["properties"].contains(req.get<std::string>()));
  }
  CHECK(registry.find("exec")->params_schema["required"] == Json::array({"argv"}));
  CHECK(registry.find("exec")->params_schema["properties"]["argv"]["items"]["anyOf"][0]["type"] == "string");
  CHECK(registry.find("fail")->params_schema["properties"]["error"]["enum"].size() == 7);
}

TEST_CASE("every built-in rejects unknown parameters, naming them") {
  for (const char* type : {"exec", "set", "merge", "pick", "delete", "validate", "http", "sleep", "fail", "log"}) {
    CAPTURE(type);
    CHECK(test::rejected_field(type, Json{{"bogus", 1}}) == "bogus");
  }
  CHECK(test::rejected_field("fail", Json::array()) == "with");
}
