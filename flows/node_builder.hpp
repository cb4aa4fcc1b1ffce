#pragma once
// Builds the node graph of a flow, resolving names to processor instances and sub-flows.
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/node.hpp"
#include "core/processor.hpp"
#include "flows/policy_parser.hpp"
#include "flows/readers.hpp"

namespace am2z {

/// Turns node fields into NodePtrs. Declare every named processor and sub-flow first, so a
/// reference may point forwards; each sub-flow is built once and shared by all its references.
class NodeBuilder {
 public:
  /// `defaults` apply to inline processors of the main file (must outlive the builder).
  NodeBuilder(Reporter& reporter, const ProcessorRegistry& registry, const ProcessorDefaults& defaults)
      : reporter_(reporter), registry_(registry), defaults_(&defaults) {}

  /// A named instance; nullptr when it failed to build (its mistakes are already reported, and
  /// references to it then fail silently). `origin` ("file:line") names it in clash messages.
  void add_processor(const std::string& name, std::shared_ptr<ProcessorInstance> instance, std::string origin = "");
  /// A named sub-flow, built on first reference or by build_subflows(). Its mistakes are reported
  /// in `file` and its inline processors take `defaults` (the file it came from: includes differ).
  void add_subflow(const std::string& name, Field definition, std::string file, const ProcessorDefaults* defaults,
                   std::string origin = "");
  /// Whether `name` is taken by a processor instance.
  bool has_processor(std::string_view name) const { return processors_.contains(name); }
  /// Where the processor or sub-flow `name` was defined ("file:line"), or nullptr if it is free.
  const std::string* origin_of(std::string_view name) const;

  /// The node `field` describes; nullptr after reporting mistakes.
  NodePtr build(const Field& field);
  /// Builds the sub-flows nobody referenced yet, in declaration order.
  void build_subflows();

  /// Named instances with their leaf nodes (null entries for the ones that failed).
  const std::map<std::string, std::pair<std::shared_ptr<ProcessorInstance>, NodePtr>, std::less<>>& processors() const {
    return processors_;
  }
  /// Sub-flows in declaration order with their nodes (null for the ones that failed).
  std::vector<std::pair<std::string, NodePtr>> subflows() const;
  /// Instances declared inline in nodes.
  const std::vector<std::shared_ptr<ProcessorInstance>>& inline_instances() const { return inline_; }

 private:
  enum class BuildState { pending, building, done };
  struct Subflow {
    std::string name;
    Field definition;
    std::string file;
    const ProcessorDefaults* defaults;
    BuildState state = BuildState::pending;
    NodePtr node;
  };
  /// The `name` and `timeout` every composite node takes.
  struct Common {
    std::string label;
    std::optional<Millis> timeout;
  };

  NodePtr reference(const Field& field);
  NodePtr subflow(std::size_t index, const Field& reference);
  Common common(const MapReader& map);
  NodePtr chain(const MapReader& map);
  NodePtr parallel(const MapReader& map);
  NodePtr route(const MapReader& map);
  NodePtr batch(const MapReader& map);
  NodePtr inline_processor(const MapReader& map);
  NodePtr subflow_call(const MapReader& map);
  /// The nodes of a non-empty list under `key` (`kind` names it in messages); nullopt on mistakes.
  std::optional<std::vector<NodePtr>> node_list(const Field& field, std::string_view kind);

  Reporter& reporter_;
  const ProcessorRegistry& registry_;
  const ProcessorDefaults* defaults_;  ///< of the file whose nodes are being built
  std::map<std::string, std::string, std::less<>> origins_;
  std::map<std::string, std::pair<std::shared_ptr<ProcessorInstance>, NodePtr>, std::less<>> processors_;
  std::vector<Subflow> subflows_;
  std::map<std::string, std::size_t, std::less<>> subflow_index_;
  std::vector<std::size_t> building_;  ///< sub-flows being built, outermost first: the cycle path
  std::vector<std::shared_ptr<ProcessorInstance>> inline_;
  /// Map nodes still allowed: YAML aliases can make a small file denote a huge tree.
  std::size_t node_budget_ = 100'000;
  std::map<std::string, int, std::less<>> inline_counters_;  ///< per type, for "<type>#<n>" names
};

/// Keys that pick a node's form; a map node has exactly one of them.
const std::vector<std::string>& node_kind_keys();

}  // namespace am2z
