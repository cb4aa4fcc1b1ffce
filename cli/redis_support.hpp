#pragma once
// What the Redis-facing subcommands (run --redis, worker, result, stats) share: the connection options,
// flow files planned for distributed runs, and the exit-code-4 error for an unreachable Redis.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "core/redis/connection.hpp"
#include "core/redis/planner.hpp"
#include "flows/loader.hpp"
#include "plugins/plugin_catalog.hpp"

namespace am2z::cli {

struct RedisArgs {
  std::string url;  ///< empty: REDIS_URL, else REDIS_HOST/REDIS_PORT/REDIS_PASSWORD/REDIS_DB
  std::string prefix = "bull";
};

/// Adds --redis URL and --prefix to `cmd`; `url_help` says what --redis does there.
void add_redis_options(CLI::App* cmd, RedisArgs& args, const std::string& url_help);

/// Resolves the endpoint; prints the reason and returns nullopt when the URL is malformed.
std::optional<redis::Endpoint> resolve_endpoint(const RedisArgs& args, const char* command);

/// Connects; on failure prints a clear message and the error JSON and returns nullptr (exit 4).
std::unique_ptr<redis::Connection> connect_or_report(const redis::Endpoint& endpoint, const char* command);

/// resolve_endpoint, then connect_or_report, for subcommand `command` ("session stop"):
/// nullptr after saying why.
std::unique_ptr<redis::Connection> connect_for(const RedisArgs& args, const std::string& command);

/// Says on stderr that Redis failed `command` ("session stop") and returns kExitUnreachable.
int redis_failed(const std::string& command, const Error& e);

/// A loaded flow made ready for distributed use: its content hash covers `path` and every file it
/// includes, so workers can refuse jobs built from another version.
std::shared_ptr<const redis::PlannedFlow> plan_loaded_flow(const std::string& path, const LoadResult& loaded,
                                                           const std::string& prefix);
/// Loads (with `catalog`'s types and the flow's own plugins) and plans a flow file: diagnostics to
/// stderr and nullptr when it is invalid.
std::shared_ptr<const redis::PlannedFlow> plan_flow_file(const std::string& path, PluginCatalog& catalog,
                                                         const std::string& prefix);

}  // namespace am2z::cli
