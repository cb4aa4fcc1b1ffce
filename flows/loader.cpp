#include "flows/loader.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>

#include "flows/field.hpp"
#include "flows/names.hpp"
#include "flows/node_builder.hpp"
#include "flows/policy_parser.hpp"
#include "flows/processor_parser.hpp"
#include "flows/readers.hpp"

namespace am2z {

namespace {

constexpr std::int64_t kFormatVersion = 1;

/// Reads a whole file; on failure `error` gets the OS's description.
bool read_file(const std::string& path, std::string& out, std::string& error) {
  // stdio rather than iostreams: it reliably leaves errno set for the message.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    error = std::strerror(errno);
    return false;
  }
  char buffer[65536];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) out.append(buffer, n);
  if (std::ferror(file.get())) {
    error = std::strerror(errno);  // e.g. EISDIR: fopen accepts a directory, reading it fails
    return false;
  }
  return true;
}

/// Declares each `processors:` entry with the builder (nullptr for the ones with mistakes).
void load_processors(Reporter& reporter, const Field& field, const ProcessorRegistry& registry,
                     const ProcessorDefaults& defaults, NodeBuilder& builder) {
  MapReader processors(reporter, field, "a map of processor instances (name: {use: ..., with: ...})");
  for (const auto& [name, entry] : processors.entries()) {
    if (auto problem = name_problem(name)) reporter.error_at(entry.key.Mark(), entry.path, *problem);
    MapReader spec(reporter, entry, "a processor instance map {use: ..., with: ...}");
    if (!spec.ok()) {
      builder.add_processor(name, nullptr);
      continue;
    }
    spec.check_keys(processor_keys());
    builder.add_processor(name, parse_processor(reporter, spec, name, registry, defaults));
  }
}

/// Declares each `flows:` entry with the builder; a name already used by a processor is an error.
void declare_subflows(Reporter& reporter, const Field& field, NodeBuilder& builder) {
  MapReader flows(reporter, field, "a map of sub-flows (name: node)");
  for (const auto& [name, entry] : flows.entries()) {
    if (auto problem = name_problem(name)) reporter.error_at(entry.key.Mark(), entry.path, *problem);
    if (builder.has_processor(name)) {
      reporter.error_at(entry.key.Mark(), entry.path,
                        "duplicate name '" + name + "': a processor instance has this name already");
      continue;
    }
    builder.add_subflow(name, entry);
  }
}

/// Copies the built graph into `flow`; false when any part failed.
bool assemble(const NodeBuilder& builder, NodePtr root, Flow& flow) {
  bool complete = static_cast<bool>(root);
  flow.root = std::move(root);
  for (const auto& [name, built] : builder.processors()) {
    complete = complete && built.first;
    flow.processors[name] = built.first;
    flow.callables[name] = built.second;
  }
  for (auto& [name, node] : builder.subflows()) {
    complete = complete && node;
    flow.callables[name] = node;
  }
  if (!complete) return false;
  // Limits are made last, from the final policies, for named and inline instances alike.
  for (const auto& entry : flow.processors) entry.second->init_limits();
  for (const auto& instance : builder.inline_instances()) instance->init_limits();
  return true;
}

void load_document(Reporter& reporter, const YAML::Node& document, const ProcessorRegistry& builtin_types,
                   const std::string& base_dir, const PluginHook& plugins, Flow& flow, bool& built,
                   std::vector<std::string>& plugin_paths) {
  const Field root{YAML::Node(), document, ""};
  if (!document.IsMap()) {
    reporter.error(root, "expected a flow: a map with version, name and flow, got " + describe(document));
    return;
  }
  MapReader top(reporter, root);
  top.check_keys({"version", "name", "description", "plugins", "defaults", "processors", "flows", "flow"});

  // A flow's own plugins extend a copy of the registry, before any processor is resolved.
  ProcessorRegistry with_plugins;
  const ProcessorRegistry* types = &builtin_types;
  if (const Field* f = top.get("plugins")) {
    with_plugins = builtin_types;
    load_flow_plugins(reporter, *f, base_dir, plugins, with_plugins, plugin_paths);
    types = &with_plugins;
  }
  const ProcessorRegistry& registry = *types;

  if (const Field* f = top.require("version")) {
    if (auto version = read_int(reporter, *f, 0); version && *version != kFormatVersion) {
      reporter.error(*f, "unsupported version " + std::to_string(*version) + "; this am2z reads version " +
                             std::to_string(kFormatVersion));
    }
  }
  if (const Field* f = top.require("name")) {
    if (auto name = read_string(reporter, *f)) {
      if (auto problem = name_problem(*name)) reporter.error(*f, *problem);
      flow.name = *name;
    }
  }
  if (const Field* f = top.get("description")) {
    if (auto description = read_string(reporter, *f)) flow.description = *description;
  }

  ProcessorDefaults defaults;
  if (const Field* f = top.get("defaults")) defaults = parse_defaults(reporter, *f);
  defaults.base_dir = base_dir;

  NodeBuilder builder(reporter, registry, defaults);
  if (const Field* f = top.get("processors")) load_processors(reporter, *f, registry, defaults, builder);
  if (const Field* f = top.get("flows")) declare_subflows(reporter, *f, builder);

  // Sub-flows first, in file order, so a cycle is always reported from the same place.
  builder.build_subflows();
  NodePtr root_node;
  if (const Field* f = top.require("flow")) root_node = builder.build(*f);
  built = assemble(builder, std::move(root_node), flow);
}

}  // namespace

LoadResult load_flow_text(const std::string& text, const std::string& file_label, const ProcessorRegistry& registry,
                          const std::string& base_dir, const PluginHook& plugins) {
  Reporter reporter(file_label);
  auto flow = std::make_shared<Flow>();
  flow->source = file_label;
  bool built = false;
  std::vector<std::string> plugin_paths;
  try {
    const YAML::Node document = YAML::Load(text);
    load_document(reporter, document, registry, base_dir, plugins, *flow, built, plugin_paths);
  } catch (const YAML::Exception& e) {
    reporter.error_at(e.mark, "", e.msg);
  } catch (const std::exception& e) {
    // Nothing below should throw; if something does, it is still a diagnostic, not a crash.
    reporter.error_at(YAML::Mark::null_mark(), "", std::string("internal error: ") + e.what());
  }
  LoadResult result;
  if (!built && reporter.count() == 0) {
    // Every failing path reports; this guards the contract "no flow => at least one diagnostic".
    reporter.error_at(YAML::Mark::null_mark(), "", "internal error: the flow could not be built");
  }
  result.diagnostics = reporter.take();
  result.plugins = std::move(plugin_paths);
  if (built && result.diagnostics.empty()) result.flow = std::move(flow);
  return result;
}

LoadResult load_flow_file(const std::string& path, const ProcessorRegistry& registry, const PluginHook& plugins) {
  std::string text;
  std::string error;
  if (!read_file(path, text, error)) {
    Reporter reporter(path);
    reporter.file_error("cannot read flow file: " + error);
    return LoadResult{nullptr, reporter.take(), {}};
  }
  const auto slash = path.find_last_of('/');
  return load_flow_text(text, path, registry, slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash),
                        plugins);
}

}  // namespace am2z
