// am2z processors [--json] [--plugin PATH]...: every processor type, where it came from, its parameters.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

namespace am2z::cli {

namespace {

struct ProcessorsArgs {
  std::vector<std::string> plugins;
  bool json = false;
};

/// "argv (array, required), env (object)": the top level of a parameter schema, for humans.
std::string parameter_summary(const Json& schema) {
  if (!schema.is_object() || !schema.contains("properties") || !schema["properties"].is_object()) return "none";
  const Json required = schema.value("required", Json::array());
  std::string out;
  for (const auto& [name, spec] : schema["properties"].items()) {
    std::string type = spec.is_object() && spec.contains("type") ? spec["type"].dump() : "any";
    if (type.front() == '"') type = type.substr(1, type.size() - 2);
    bool needed = false;
    for (const auto& r : required) needed = needed || r == name;
    out += (out.empty() ? "" : ", ") + name + " (" + type + (needed ? ", required" : "") + ")";
  }
  return out.empty() ? "none" : out;
}

int list_processors(const ProcessorsArgs& a) {
  auto catalog = load_plugins(a.plugins);
  if (!catalog) return kExitInvalid;
  const ProcessorRegistry registry = catalog->registry();
  if (a.json) {
    Json list = Json::array();
    for (const auto& name : registry.names()) {
      const ProcessorType& t = *registry.find(name);
      list.push_back(Json{
          {"name", t.name}, {"description", t.description}, {"origin", t.origin}, {"params_schema", t.params_schema}});
    }
    print_json(Json{{"processors", std::move(list)}}, false);
    return kExitSuccess;
  }
  for (const auto& name : registry.names()) {
    const ProcessorType& t = *registry.find(name);
    std::printf("%s  [%s]\n  %s\n  parameters: %s\n", t.name.c_str(), t.origin.c_str(), t.description.c_str(),
                parameter_summary(t.params_schema).c_str());
  }
  return kExitSuccess;
}

}  // namespace

CommandHandler add_processors_command(CLI::App& app) {
  auto args = std::make_shared<ProcessorsArgs>();
  CLI::App* cmd = app.add_subcommand("processors", "List every processor type: origin, description, parameters");
  cmd->add_flag("--json", args->json, "Print {\"processors\": [{name, description, origin, params_schema}]}");
  add_plugin_option(cmd, args->plugins);
  return [args](const GlobalOptions&) { return list_processors(*args); };
}

}  // namespace am2z::cli
