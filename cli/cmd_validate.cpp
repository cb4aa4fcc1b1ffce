// am2z validate FILE|DIR... [--json] [--plugin PATH]...: checks flow files without running anything.
#include <algorithm>
#include <cstdio>
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

int validate(const ValidateArgs& a) {
  auto catalog = load_plugins(a.plugins);
  if (!catalog) return kExitInvalid;
  const ProcessorRegistry registry = catalog->registry();
  bool all_ok = true;
  std::vector<std::string> files = flow_files(a.files, "validate", all_ok, true);
  // A directory's include libraries (no flow: key) are checked through the flows including them.
  std::erase_if(files, [&](const std::string& f) {
    return std::find(a.files.begin(), a.files.end(), f) == a.files.end() && is_flow_library(f);
  });
  if (files.empty()) {
    if (all_ok) std::fprintf(stderr, "am2z validate: no flow file (*.yaml, *.yml) found in %s\n", a.files.front().c_str());
    return kExitInvalid;
  }
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
