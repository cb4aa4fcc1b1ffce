// am2z schema [--plugin PATH]...: prints the JSON Schema of flow files (for editors and CI),
// with the parameters of every built-in type and of the plugins' types.
#include <memory>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "flows/flow_schema.hpp"

namespace am2z::cli {

CommandHandler add_schema_command(CLI::App& app) {
  struct Args {
    bool compact = false;
    std::vector<std::string> plugins;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "schema", "Print the JSON Schema (draft-07) of flow files, with every processor type's parameters");
  cmd->add_flag("-c,--compact", args->compact, "Print it on one line");
  add_plugin_option(cmd, args->plugins);
  return [args](const GlobalOptions&) {
    auto catalog = load_plugins(args->plugins);
    if (!catalog) return kExitInvalid;
    print_json(flow_schema(catalog->registry()), args->compact);
    return kExitSuccess;
  };
}

}  // namespace am2z::cli
