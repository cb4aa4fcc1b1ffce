#include "cli/cli_support.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "plugins/builtins.hpp"

namespace am2z::cli {

void add_global_options(CLI::App& app, GlobalOptions& opts) {
  app.add_option("--log-level", opts.log_level, "Log level on stderr: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->envname("AM2Z_LOG_LEVEL");
  app.add_flag("-q,--quiet", opts.quiet, "Only log errors");
  app.add_flag("-v,--verbose", opts.verbose, "Log debug details");
}

void setup_logging(const GlobalOptions& opts) {
  auto logger = spdlog::stderr_color_mt("am2z");
  logger->set_pattern("%^%Y-%m-%dT%H:%M:%S.%eZ %l%$ %v", spdlog::pattern_time_type::utc);
  auto level = spdlog::level::from_str(opts.log_level);
  if (opts.verbose) level = spdlog::level::debug;
  if (opts.quiet) level = spdlog::level::err;
  logger->set_level(level);
  spdlog::set_default_logger(logger);
}

ProcessorRegistry make_registry() {
  ProcessorRegistry registry;
  register_builtins(registry);
  return registry;
}

void print_json(const Json& j, bool compact) {
  const std::string text = j.dump(compact ? -1 : 2, ' ', false, Json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
}

void print_diagnostics(const std::vector<Diagnostic>& diagnostics) {
  for (const auto& d : diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
}

void print_error_json(const Json& j) {
  const std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fputc('\n', stderr);
}

void exit_now(int code) {
  // No spdlog::shutdown(): its sinks flush every line already, and tearing the registry down
  // would race with pool threads that still hold the logger.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

}  // namespace am2z::cli
