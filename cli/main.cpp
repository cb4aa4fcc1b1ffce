// am2z: runs YAML flows of processors. This file only wires the subcommand table together.
#include <cstdio>
#include <map>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

using namespace am2z::cli;

int main(int argc, char** argv) {
  CLI::App app{"am2z: run workflows of processors written in YAML", "am2z"};
  app.set_version_flag("-V,--version",
                       std::string("am2z ") + AM2Z_VERSION + " (commit " + AM2Z_COMMIT + ", " + AM2Z_BUILD_TYPE + ")");
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand: am2z run f.yaml -q
  GlobalOptions globals;
  add_global_options(app, globals);

  std::map<std::string, CommandHandler> commands{
      {"run", add_run_command(app)},
      {"validate", add_validate_command(app)},
      {"worker", add_worker_command(app)},
      {"result", add_result_command(app)},
      {"stats", add_stats_command(app)},
      {"schema", add_schema_command(app)},
      {"graph", add_graph_command(app)},
      {"processors", add_processors_command(app)},
      {"session", add_session_command(app)},
      {"events", add_events_command(app)},
      {"schedule", add_schedule_command(app)},
      {"dlq", add_dlq_command(app)},
  };
  commands.emplace("completion", add_completion_command(app));
  commands.emplace("manpage", add_manpage_command(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    exit_now(app.exit(e));
  } catch (const CLI::ParseError& e) {
    // CLI11 checks for the required subcommand before it reports leftover arguments, so
    // `am2z --bogus` and `am2z frobnicate` would only say "A subcommand is required".
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      app.exit(CLI::ExtrasError(app.remaining()));
    } else {
      app.exit(e);
    }
    exit_now(kExitUsage);
  }
  setup_logging(globals);
  if (!environment_is_valid()) exit_now(kExitUsage);
  for (const auto& [name, handler] : commands) {
    if (app.got_subcommand(name)) exit_now(handler(globals));
  }
  exit_now(kExitUsage);
}
