#pragma once
// The table of subcommands: each file adds its options to a CLI11 subcommand and returns the
// function that runs it once parsing succeeded.
#include <CLI/CLI.hpp>
#include <functional>

#include "cli/cli_support.hpp"

namespace am2z::cli {

using CommandHandler = std::function<int(const GlobalOptions&)>;

CommandHandler add_run_command(CLI::App& app);
CommandHandler add_validate_command(CLI::App& app);
CommandHandler add_worker_command(CLI::App& app);
CommandHandler add_result_command(CLI::App& app);
CommandHandler add_stats_command(CLI::App& app);
CommandHandler add_schema_command(CLI::App& app);
CommandHandler add_graph_command(CLI::App& app);
CommandHandler add_processors_command(CLI::App& app);
CommandHandler add_session_command(CLI::App& app);
CommandHandler add_events_command(CLI::App& app);
CommandHandler add_schedule_command(CLI::App& app);
CommandHandler add_dlq_command(CLI::App& app);
/// Last: it describes every command added before it.
CommandHandler add_completion_command(CLI::App& app);
CommandHandler add_manpage_command(CLI::App& app);

}  // namespace am2z::cli
