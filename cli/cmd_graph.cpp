// am2z graph FLOW [--format dot|mermaid] [--plugin PATH]...: prints the composition graph of a flow.
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "flows/graph_export.hpp"
#include "flows/loader.hpp"

namespace am2z::cli {

namespace {

struct GraphArgs {
  std::string flow;
  std::string format = "dot";
  std::vector<std::string> plugins;
};

int graph(const GraphArgs& a) {
  GraphFormat format{};
  parse_graph_format(a.format, format);  // CLI11 checked the choice
  auto catalog = load_plugins(a.plugins);
  if (!catalog) return kExitInvalid;
  const ProcessorRegistry registry = catalog->registry();
  const LoadResult loaded = load_flow_file(a.flow, registry, flow_plugin_hook(*catalog));
  if (!loaded.ok()) {
    print_diagnostics(loaded.diagnostics);
    return kExitInvalid;
  }
  const std::string text = export_graph(*loaded.flow, format);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitSuccess;
}

}  // namespace

CommandHandler add_graph_command(CLI::App& app) {
  auto args = std::make_shared<GraphArgs>();
  CLI::App* cmd = app.add_subcommand("graph", "Print the composition graph of a flow (Graphviz DOT or Mermaid)");
  cmd->add_option("flow", args->flow, "Flow file (YAML)")->required();
  cmd->add_option("-f,--format", args->format, "dot (default) or mermaid")->check(CLI::IsMember({"dot", "mermaid"}));
  add_plugin_option(cmd, args->plugins);
  return [args](const GlobalOptions&) { return graph(*args); };
}

}  // namespace am2z::cli
