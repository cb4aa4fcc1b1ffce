#pragma once
// Pieces every subcommand shares: logging set-up, the processor registry, output helpers.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <optional>
#include <string>

#include "core/cancel.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "core/processor.hpp"
#include "flows/diagnostic.hpp"
#include "flows/plugin_list.hpp"
#include "plugins/plugin_catalog.hpp"

namespace am2z::cli {

/// Options common to every subcommand.
struct GlobalOptions {
  std::string log_level = "info";
  bool quiet = false;
  bool verbose = false;
  std::string color = "auto";        ///< --color auto|always|never (auto: a TTY, and NO_COLOR unset)
  std::string log_format = "text";   ///< --log-format text|json
};

/// Adds --log-level, -q, -v, --color and --log-format to `app`.
void add_global_options(CLI::App& app, GlobalOptions& opts);
/// Checks the configuration variables the engine reads (core/environment.hpp); on a malformed
/// one prints "am2z: <VARIABLE>: <why>" and returns false (exit kExitUsage).
bool environment_is_valid();
/// Sends spdlog to stderr at the chosen level (AM2Z_LOG_LEVEL when no flag says otherwise).
void setup_logging(const GlobalOptions& opts);
/// The built-in processor types.
const ProcessorRegistry& builtin_registry();
/// Adds --plugin PATH (repeatable) to a subcommand.
void add_plugin_option(CLI::App* cmd, std::vector<std::string>& files);
/// A catalog of the plugins in AM2Z_PLUGIN_PATH directories and the --plugin `files`; on a plugin
/// that cannot be used, prints why on stderr and returns null (exit kExitInvalid).
std::unique_ptr<PluginCatalog> load_plugins(const std::vector<std::string>& files, PluginLoadOptions options = {});
/// Loads a flow's `plugins:` entries through `catalog`.
PluginHook flow_plugin_hook(PluginCatalog& catalog);

/// The flow files named by `paths`, in order: a directory gives every *.yaml / *.yml under it
/// (sorted); a file is kept as given. With `keep_others` every other path (missing, a device, a
/// FIFO) is kept too, so the loader reports it at its name with what it is; without, such a path
/// is reported on stderr as "am2z <who>: ..." and clears `ok`.
std::vector<std::string> flow_files(const std::vector<std::string>& paths, const char* who, bool& ok,
                                    bool keep_others);
/// Writes JSON and a newline to stdout, pretty unless `compact`.
void print_json(const Json& j, bool compact);
/// Writes each diagnostic as a `file:line:col: path: message` line to stderr.
void print_diagnostics(const std::vector<Diagnostic>& diagnostics);
/// Writes one line of JSON to stderr.
void print_error_json(const Json& j);
/// Writes {"error": e} as one line of JSON to stderr.
void print_error(const Error& e);

/// A duration flag, named in its usage error "am2z <command>: <flag>: ...".
struct DurationFlag {
  const char* command;             ///< "worker"
  const char* flag;                ///< "--grace"
  const char* expected = nullptr;  ///< "a positive duration": says "'<text>' is not <expected>"; null: why
  bool allow_zero = false;         ///< 0 is a valid value (a TTL that never expires)
};
/// Parses a duration flag's text (core/units); on a bad value prints its usage error and returns
/// nullopt (exit kExitUsage).
std::optional<Millis> parse_duration_flag(const std::string& text, const DurationFlag& flag);
/// Parses a size flag's text ("16MiB"); on a bad value, or one under `min_bytes` (spelled
/// `min_text`), prints "am2z <command>: <flag>: <why>" and returns nullopt (exit kExitUsage).
std::optional<std::size_t> parse_size_flag(const std::string& text, const char* command, const char* flag,
                                           std::size_t min_bytes = 0, const char* min_text = "");

/// Flushes stdio and leaves at once: abandoned steps may still be running on pool threads.
[[noreturn]] void exit_now(int code);

}  // namespace am2z::cli
