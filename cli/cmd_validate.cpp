// am2z validate FILE|DIR... [--json] [--plugin PATH]...: checks flow files without running anything.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "flows/loader.hpp"

namespace am2z::cli {

namespace {

struct ValidateArgs {
  std::vector<std::string> files;
  std::vector<std::string> plugins;
  bool json = false;
};

/// The files `paths` stand for: a directory gives its *.yaml / *.yml files but not its include
/// libraries (no flow: key; checked through the flows including them), and a directory without
/// any is reported and clears `ok`. Anything else is kept for the loader to say what it is.
std::vector<std::string> files_to_check(const std::vector<std::string>& paths, bool& ok) {
  std::vector<std::string> out;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) {
      out.push_back(path);
      continue;
    }
    std::vector<std::string> found = flow_files({path}, "validate", ok, true);
    std::erase_if(found, is_flow_library);
    if (found.empty()) {
      std::fprintf(stderr, "am2z validate: no flow file (*.yaml, *.yml) found in %s\n", path.c_str());
      ok = false;
    }
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

int validate(const ValidateArgs& a) {
  auto catalog = load_plugins(a.plugins);
  if (!catalog) return kExitInvalid;
  const ProcessorRegistry registry = catalog->registry();
  bool all_ok = true;
  const std::vector<std::string> files = files_to_check(a.files, all_ok);
  if (files.empty()) return kExitInvalid;
  Json report = Json::array();
  for (const auto& file : files) {
    const LoadResult loaded = load_flow_file(file, registry, flow_plugin_hook(*catalog));
    const bool ok = loaded.ok();
    all_ok = all_ok && ok;
    if (a.json) {
      Json diags = Json::array();
      for (const auto& d : loaded.diagnostics) diags.push_back(d.to_json());
      report.push_back(Json{{"file", file}, {"valid", ok}, {"diagnostics", std::move(diags)}});
    } else if (ok) {
      std::printf("%s: ok\n", file.c_str());
    } else {
      print_diagnostics(loaded.diagnostics);
    }
  }
  if (a.json) print_json(Json{{"valid", all_ok}, {"files", std::move(report)}}, false);
  return all_ok ? kExitSuccess : kExitInvalid;
}

}  // namespace

CommandHandler add_validate_command(CLI::App& app) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* cmd =
      app.add_subcommand("validate", "Check flow files without running anything (exit 3 if any is invalid)");
  cmd->add_option("files", args->files, "Flow files, or directories searched for *.yaml / *.yml")->required();
  cmd->add_flag("--json", args->json, "Print the result as JSON on stdout");
  add_plugin_option(cmd, args->plugins);
  return [args](const GlobalOptions&) { return validate(*args); };
}

}  // namespace am2z::cli
