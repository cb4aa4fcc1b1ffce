// am2z schema: prints the JSON Schema of flow files (for editors and CI).
#include <memory>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "flows/flow_schema.hpp"

namespace am2z::cli {

CommandHandler add_schema_command(CLI::App& app) {
  auto compact = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "schema", "Print the JSON Schema (draft-07) of flow files, with every processor type's parameters");
  cmd->add_flag("-c,--compact", *compact, "Print it on one line");
  return [compact](const GlobalOptions&) {
    print_json(flow_schema(make_registry()), *compact);
    return kExitSuccess;
  };
}

}  // namespace am2z::cli
