#include "flows/loader.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "core/environment.hpp"
#include "core/text_file.hpp"

#include "flows/field.hpp"
#include "flows/flow_format.hpp"
#include "flows/json_schema.hpp"
#include "flows/names.hpp"
#include "flows/node_builder.hpp"
#include "flows/policy_parser.hpp"
#include "flows/processor_parser.hpp"
#include "flows/readers.hpp"
#include "flows/yaml_document.hpp"
#include "flows/yaml_json.hpp"

namespace am2z {

namespace {

constexpr std::int64_t kFormatVersion = 1;

/// Files included from files included from ... the main one: deeper than this is a mistake.
constexpr std::size_t kMaxIncludeDepth = 32;

/// "nothing", "a list", "a single value": the shape of a document that is not a flow, without
/// quoting it (it may be any file at all, /etc/shadow included).
std::string shape_of(const YAML::Node& document) {
  if (!document.IsDefined() || document.IsNull()) return "nothing";
  if (document.IsSequence()) return "a list";
  if (document.IsMap()) return "a map without any of these keys";
  return "a single value";
}

/// A flow file is a map with at least one flow key. Anything else is reported by its shape only:
/// listing its keys or values would echo a file that may not be a flow file at all.
bool looks_like_flow(const YAML::Node& document) {
  if (!document.IsMap()) return false;
  const auto names = key_names(top_level_fields());
  for (const auto& entry : document) {
    if (!entry.first.IsScalar()) continue;
    if (std::find(names.begin(), names.end(), entry.first.Scalar()) != names.end()) return true;
  }
  return false;
}

/// "file:line" of a key, for "already defined" messages.
std::string origin(const Reporter& reporter, const Field& entry) {
  return reporter.file() + ":" + std::to_string(entry.key.Mark().line + 1);
}

/// Reports a name that an earlier processor or sub-flow (perhaps in an included file) took.
bool name_taken(Reporter& reporter, const NodeBuilder& builder, const std::string& name, const Field& entry) {
  const std::string* first = builder.origin_of(name);
  if (first == nullptr) return false;
  reporter.error_at(entry.key.Mark(), entry.path, "duplicate name '" + name + "': already defined at " + *first);
  return true;
}

/// One flow file being loaded, the main one or an included one.
struct FileScope {
  std::string label;     ///< as diagnostics name it
  std::string base_dir;  ///< where its relative paths resolve
  std::string canonical;
};

/// State shared by the main file and every file it includes.
class Loader {
 public:
  Loader(Reporter& reporter, const ProcessorRegistry& registry, Flow& flow)
      : reporter_(reporter), registry_(registry), flow_(flow), builder_(reporter, registry, main_defaults()) {}

  /// Loads the main document; `built` tells whether the flow is complete.
  bool load_main(const YAML::Node& document, const FileScope& file) {
    stack_.push_back(file.canonical);
    loaded_.insert(file.canonical);
    const Field root{YAML::Node(), document, ""};
    if (!looks_like_flow(document)) {
      reporter_.error(root, "expected a flow: a map with version, name and flow, got " + shape_of(document));
      return false;
    }
    MapReader top(reporter_, root);
    declare(top, file, defaults_.front());
    if (const Field* f = top.require("name")) {
      if (auto name = read_string(reporter_, *f)) {
        if (auto problem = name_problem(*name)) reporter_.error(*f, *problem);
        flow_.name = *name;
      }
    }
    if (const Field* f = top.get("description")) {
      if (auto description = read_string(reporter_, *f)) flow_.description = *description;
    }
    if (const Field* f = top.get("input")) read_input_schema(*f);

    // Sub-flows first, in file order, so a cycle is always reported from the same place.
    builder_.build_subflows();
    NodePtr root_node;
    if (const Field* f = top.require("flow")) root_node = builder_.build(*f);
    return assemble(std::move(root_node));
  }

 private:
  ProcessorDefaults& main_defaults() { return defaults_.emplace_back(); }

  /// What every file contributes: version, includes, defaults, processors and sub-flows.
  void declare(const MapReader& top, const FileScope& file, ProcessorDefaults& defaults) {
    top.check_keys(key_names(top_level_fields()));
    if (const Field* f = top.require("version")) {
      if (auto version = read_int(reporter_, *f, 0); version && *version != kFormatVersion) {
        reporter_.error(*f, "unsupported version " + std::to_string(*version) + "; this am2z reads version " +
                                std::to_string(kFormatVersion));
      }
    }
    if (const Field* f = top.get("include")) include_all(*f, file);
    if (const Field* f = top.get("defaults")) defaults = parse_defaults(reporter_, *f);
    // A malformed AM2Z_DEFAULT_TIMEOUT is the CLI's usage error before any flow loads.
    if (!defaults.timeout) {
      if (auto env = env_default_timeout(); env && *env) defaults.timeout = **env;
    }
    defaults.base_dir = file.base_dir;
    if (const Field* f = top.get("processors")) load_processors(*f, defaults);
    if (const Field* f = top.get("flows")) declare_subflows(*f, defaults);
  }

  /// Declares each `processors:` entry with the builder (nullptr for the ones with mistakes).
  void load_processors(const Field& field, const ProcessorDefaults& defaults) {
    MapReader processors(reporter_, field, "a map of processor instances (name: {use: ..., with: ...})");
    for (const auto& [name, entry] : processors.entries()) {
      if (auto problem = name_problem(name)) reporter_.error_at(entry.key.Mark(), entry.path, *problem);
      // A clashing instance is still read, so its own mistakes are reported in this pass too.
      const bool taken = name_taken(reporter_, builder_, name, entry);
      MapReader spec(reporter_, entry, "a processor instance map {use: ..., with: ...}");
      std::shared_ptr<ProcessorInstance> instance;
      if (spec.ok()) {
        spec.check_keys(processor_keys());
        instance = parse_processor(reporter_, spec, name, registry_, defaults);
      }
      if (!taken) builder_.add_processor(name, std::move(instance), origin(reporter_, entry));
    }
  }

  /// Declares each `flows:` entry with the builder; a name already taken is an error.
  void declare_subflows(const Field& field, const ProcessorDefaults& defaults) {
    MapReader flows(reporter_, field, "a map of sub-flows (name: node)");
    for (const auto& [name, entry] : flows.entries()) {
      if (auto problem = name_problem(name)) reporter_.error_at(entry.key.Mark(), entry.path, *problem);
      if (name_taken(reporter_, builder_, name, entry)) continue;
      builder_.add_subflow(name, entry, reporter_.file(), &defaults, origin(reporter_, entry));
    }
  }

  /// `input:` is a JSON Schema; one that does not compile is a mistake of the flow file.
  void read_input_schema(const Field& field) {
    const std::size_t before = reporter_.count();
    MarkIndex marks;
    Json schema = yaml_to_json(reporter_, field, &marks);
    if (reporter_.count() != before) return;
    auto compiled = JsonSchema::compile(schema);
    if (!compiled) {
      const std::string reason = compiled.error().context.value("reason", compiled.error().message);
      const std::string sub = compiled.error().context.value("at", "");
      auto mark = marks.find(sub);
      if (sub.empty() || mark == marks.end())
        reporter_.error(field, reason);
      else
        reporter_.error_at(mark->second, join_path(field.path, sub), reason);
      return;
    }
    flow_.input_schema = std::move(schema);
  }

  void include_all(const Field& field, const FileScope& file) {
    auto items = read_list(reporter_, field);
    if (!items) return;
    for (const auto& item : *items) {
      if (auto relative = read_string(reporter_, item)) include_one(item, *relative, file);
    }
  }

  /// Loads an included file's processors and sub-flows; its own mistakes are reported in it.
  void include_one(const Field& item, const std::string& relative, const FileScope& from) {
    FileScope file;
    const bool here = from.base_dir.empty() || from.base_dir == ".";
    file.label = relative.front() == '/' || here ? relative : from.base_dir + "/" + relative;
    std::error_code ec;
    file.canonical = std::filesystem::weakly_canonical(file.label, ec).string();
    if (ec) file.canonical = file.label;
    if (auto cycle = std::find(stack_.begin(), stack_.end(), file.canonical); cycle != stack_.end()) {
      std::string chain;
      for (auto it = cycle; it != stack_.end(); ++it) chain += std::filesystem::path(*it).filename().string() + " -> ";
      reporter_.error(item, "include cycle: " + chain + std::filesystem::path(file.canonical).filename().string());
      return;
    }
    if (stack_.size() > kMaxIncludeDepth) {
      reporter_.error(item, "includes nested more than " + std::to_string(kMaxIncludeDepth) + " files deep");
      return;
    }
    if (!loaded_.insert(file.canonical).second) return;  // included twice along different paths: once is enough
    auto text = read_text_file(file.label, kMaxFlowFileBytes);
    if (!text) {
      reporter_.error(item, "cannot include '" + file.label + "': it " + text.error().reason);
      return;
    }
    flow_.included.push_back(file.label);  // part of the flow's content (workers compare hashes)
    const auto slash = file.label.find_last_of('/');
    file.base_dir = slash == std::string::npos ? "." : file.label.substr(0, slash == 0 ? 1 : slash);

    std::string includer = reporter_.switch_file(file.label);
    stack_.push_back(file.canonical);
    if (auto document = parse_yaml_document(*text, reporter_)) {
      documents_.push_back(std::move(*document));
      const Field root{YAML::Node(), documents_.back(), ""};
      if (!looks_like_flow(documents_.back())) {
        reporter_.error(root, "expected an included flow file: a map with version, processors and flows, got " +
                                  shape_of(documents_.back()));
      } else {
        declare(MapReader(reporter_, root), file, defaults_.emplace_back());
      }
    }
    stack_.pop_back();
    reporter_.switch_file(std::move(includer));
  }

  /// Copies the built graph into the flow; false when any part failed.
  bool assemble(NodePtr root) {
    bool complete = static_cast<bool>(root);
    flow_.root = std::move(root);
    for (const auto& [name, built] : builder_.processors()) {
      complete = complete && built.first;
      flow_.processors[name] = built.first;
      flow_.callables[name] = built.second;
    }
    for (auto& [name, node] : builder_.subflows()) {
      complete = complete && node;
      flow_.callables[name] = node;
    }
    if (!complete) return false;
    // Limits are made last, from the final policies, for named and inline instances alike.
    for (const auto& entry : flow_.processors) entry.second->init_limits();
    for (const auto& instance : builder_.inline_instances()) instance->init_limits();
    return true;
  }

  Reporter& reporter_;
  const ProcessorRegistry& registry_;
  Flow& flow_;
  std::deque<ProcessorDefaults> defaults_;  ///< one per file; a deque keeps references stable
  NodeBuilder builder_;
  std::vector<YAML::Node> documents_;  ///< included documents, alive as long as their fields
  std::vector<std::string> stack_;     ///< files being loaded, outermost first: the include path
  std::set<std::string> loaded_;
};

/// The main file's `plugins:` entry, found before anything else is read: plugins add processor
/// types, so they load before any processor is resolved.
std::optional<Field> plugins_field(const YAML::Node& document) {
  if (!document.IsMap()) return std::nullopt;
  for (const auto& entry : document) {
    if (entry.first.IsScalar() && entry.first.Scalar() == "plugins") return Field{entry.first, entry.second, "plugins"};
  }
  return std::nullopt;
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
    const auto parsed = parse_yaml_document(text, reporter);
    if (!parsed) return LoadResult{nullptr, reporter.take(), {}};
    const YAML::Node& document = *parsed;
    std::error_code ec;
    std::string canonical = std::filesystem::weakly_canonical(file_label, ec).string();
    // A flow's own plugins extend a copy of the registry.
    ProcessorRegistry with_plugins;
    const ProcessorRegistry* types = &registry;
    if (auto field = plugins_field(document)) {
      with_plugins = registry;
      load_flow_plugins(reporter, *field, base_dir, plugins, with_plugins, plugin_paths);
      types = &with_plugins;
    }
    Loader loader(reporter, *types, *flow);
    built = loader.load_main(document, FileScope{file_label, base_dir, ec ? file_label : canonical});
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

bool is_flow_library(const std::string& path) {
  auto text = read_text_file(path, kMaxFlowFileBytes);
  if (!text) return false;  // loading it reports why
  Reporter ignored(path);
  const auto doc = parse_yaml_document(*text, ignored);
  return doc && doc->IsMap() && !(*doc)["flow"];
}

LoadResult load_flow_file(const std::string& path, const ProcessorRegistry& registry, const PluginHook& plugins) {
  auto text = read_text_file(path, kMaxFlowFileBytes);
  if (!text) {
    Reporter reporter(path);
    reporter.file_error("the flow file " + text.error().reason);
    return LoadResult{nullptr, reporter.take(), {}};
  }
  const auto slash = path.find_last_of('/');
  return load_flow_text(*text, path, registry, slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash),
                        plugins);
}

}  // namespace am2z
