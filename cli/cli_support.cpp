#include "cli/cli_support.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/progress_display.hpp"
#include "core/environment.hpp"
#include "core/units.hpp"
#include "plugins/builtins.hpp"

namespace am2z::cli {

void add_global_options(CLI::App& app, GlobalOptions& opts) {
  app.add_option("--log-level", opts.log_level, "Log level on stderr: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->envname("AM2Z_LOG_LEVEL");
  app.add_flag("-q,--quiet", opts.quiet, "Only log errors");
  app.add_flag("-v,--verbose", opts.verbose, "Log debug details");
  app.add_option("--color", opts.color, "Colour the log: auto (a terminal, unless NO_COLOR is set), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->envname("AM2Z_COLOR");
  app.add_option("--log-format", opts.log_format, "Log lines as text (default) or json, one object per line")
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("AM2Z_LOG_FORMAT");
}

bool environment_is_valid() {
  auto report = [](const Error& e) {
    std::fprintf(stderr, "am2z: %s: %s\n", e.context.value("configKey", "").c_str(),
                 e.context.value("reason", e.message).c_str());
    return false;
  };
  if (auto timeout = env_default_timeout(); !timeout) return report(timeout.error());
  if (auto depth = env_max_call_depth(); !depth) return report(depth.error());
  if (auto every = env_progress_interval(); !every) return report(every.error());
  return true;
}

namespace {

/// %j: the log message as a JSON string's contents (quotes, backslashes and control characters
/// escaped), so --log-format json writes one valid object per line whatever a message holds.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string text = dump_text(Json(std::string(msg.payload.data(), msg.payload.size())));
    dest.append(text.data() + 1, text.data() + text.size() - 1);  // without its quotes
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

spdlog::color_mode color_mode_of(const std::string& color) {
  if (color == "always") return spdlog::color_mode::always;
  if (color == "never") return spdlog::color_mode::never;
  // https://no-color.org: a NO_COLOR set to anything but "" turns colour off
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return spdlog::color_mode::never;
  return spdlog::color_mode::automatic;  // a terminal that is not TERM=dumb
}

}  // namespace

void setup_logging(const GlobalOptions& opts) {
  const bool json = opts.log_format == "json";
  // Log lines go above a run's progress line on a terminal, never through it.
  auto colored = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(json ? spdlog::color_mode::never
                                                                             : color_mode_of(opts.color));
  auto logger = std::make_shared<spdlog::logger>("am2z", progress_aware_sink(std::move(colored)));
  if (json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('j').set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%j"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%^%Y-%m-%dT%H:%M:%S.%eZ %l%$ %v", spdlog::pattern_time_type::utc);
  }
  auto level = spdlog::level::from_str(opts.log_level);
  if (opts.verbose) level = spdlog::level::debug;
  if (opts.quiet) level = spdlog::level::err;
  logger->set_level(level);
  spdlog::set_default_logger(logger);
}

const ProcessorRegistry& builtin_registry() {
  static const ProcessorRegistry registry = [] {
    ProcessorRegistry r;
    register_builtins(r);
    return r;
  }();
  return registry;
}

void add_plugin_option(CLI::App* cmd, std::vector<std::string>& files) {
  cmd->add_option("--plugin", files, "Load a C++ plugin (a shared library); repeatable. Also: AM2Z_PLUGIN_PATH");
}

std::unique_ptr<PluginCatalog> load_plugins(const std::vector<std::string>& files, PluginLoadOptions options) {
  auto catalog = std::make_unique<PluginCatalog>(builtin_registry(), options);
  Status loaded;
  if (const char* dirs = std::getenv("AM2Z_PLUGIN_PATH"); dirs != nullptr) loaded = catalog->add_search_path(dirs);
  for (std::size_t i = 0; loaded && i < files.size(); ++i) loaded = catalog->add_file(files[i]);
  if (!loaded) {
    std::fprintf(stderr, "am2z: %s\n", loaded.error().message.c_str());
    return nullptr;
  }
  return catalog;
}

PluginHook flow_plugin_hook(PluginCatalog& catalog) {
  return [&catalog](const std::string& path, ProcessorRegistry& registry) -> Status {
    if (auto ok = catalog.add_file(path); !ok) return ok;
    catalog.register_into(registry);
    return {};
  };
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

void print_error(const Error& e) { print_error_json(Json{{"error", e.to_json()}}); }

namespace {
/// The parser's reason for refusing a flag's text.
std::string reason_of(const Error& e) { return e.context.value("reason", e.message); }
}  // namespace

std::optional<Millis> parse_duration_flag(const std::string& text, const DurationFlag& flag) {
  auto d = parse_duration(text);
  const bool in_range = d && (flag.allow_zero ? d->count() >= 0 : d->count() > 0);
  if (in_range) return *d;
  if (flag.expected != nullptr) {
    std::fprintf(stderr, "am2z %s: %s: '%s' is not %s\n", flag.command, flag.flag, text.c_str(), flag.expected);
  } else {
    const std::string why =
        d ? (flag.allow_zero ? "must not be negative" : "must be greater than 0") : reason_of(d.error());
    std::fprintf(stderr, "am2z %s: %s: %s\n", flag.command, flag.flag, why.c_str());
  }
  return std::nullopt;
}

std::optional<std::size_t> parse_size_flag(const std::string& text, const char* command, const char* flag,
                                           std::size_t min_bytes, const char* min_text) {
  auto size = parse_size(text);
  if (size && *size >= min_bytes) return *size;
  const std::string why = size ? std::string("must be at least ") + min_text : reason_of(size.error());
  std::fprintf(stderr, "am2z %s: %s: %s\n", command, flag, why.c_str());
  return std::nullopt;
}

void exit_now(int code) {
  // No spdlog::shutdown(): its sinks flush every line already, and tearing the registry down
  // would race with pool threads that still hold the logger.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

std::vector<std::string> flow_files(const std::vector<std::string>& paths, const char* who, bool& ok,
                                    bool keep_others) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      if (!keep_others && !fs::is_regular_file(path, ec)) {
        std::fprintf(stderr, "am2z %s: '%s' is neither a flow file nor a directory\n", who, path.c_str());
        ok = false;
      } else {
        out.push_back(path);
      }
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const auto ext = it->path().extension();
      if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml")) found.push_back(it->path().string());
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace am2z::cli
