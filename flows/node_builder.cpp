#include "flows/node_builder.hpp"

#include <algorithm>
#include <utility>

#include "flows/flow_format.hpp"
#include "flows/processor_parser.hpp"
#include "flows/suggest.hpp"

namespace am2z {

namespace {

/// "chain, parallel, route, batch, flow, use"
const std::string& kind_list() {
  static const std::string text = [] {
    std::string out;
    for (const auto& kind : node_kind_keys()) out += (out.empty() ? "" : ", ") + kind;
    return out;
  }();
  return text;
}

const std::string& node_shapes() {
  static const std::string text = "a processor or sub-flow name, or a map with one of " + kind_list();
  return text;
}

/// Every key some map node may have: the base for "did you mean" before the form is known.
const std::vector<std::string>& all_node_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out = node_kind_keys();
    for (const auto& form : node_forms()) {
      for (const auto& field : form.fields) {
        if (std::find(out.begin(), out.end(), field.name) == out.end()) out.push_back(field.name);
      }
    }
    return out;
  }();
  return keys;
}

}  // namespace

const std::vector<std::string>& node_kind_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const auto& form : node_forms()) out.push_back(form.kind);
    return out;
  }();
  return keys;
}

void NodeBuilder::add_processor(const std::string& name, std::shared_ptr<ProcessorInstance> instance,
                                std::string origin) {
  NodePtr node = instance ? std::make_shared<ProcessorNode>(instance) : nullptr;
  processors_[name] = {std::move(instance), std::move(node)};
  origins_.emplace(name, std::move(origin));
}

void NodeBuilder::add_subflow(const std::string& name, Field definition, std::string file,
                              const ProcessorDefaults* defaults, std::string origin) {
  subflow_index_[name] = subflows_.size();
  subflows_.push_back(Subflow{name, std::move(definition), std::move(file), defaults, BuildState::pending, nullptr});
  origins_.emplace(name, std::move(origin));
}

const std::string* NodeBuilder::origin_of(std::string_view name) const {
  auto it = origins_.find(name);
  return it == origins_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, NodePtr>> NodeBuilder::subflows() const {
  std::vector<std::pair<std::string, NodePtr>> out;
  for (const auto& sub : subflows_) out.emplace_back(sub.name, sub.node);
  return out;
}

void NodeBuilder::build_subflows() {
  for (std::size_t i = 0; i < subflows_.size(); ++i) {
    if (subflows_[i].state == BuildState::pending) subflow(i, subflows_[i].definition);
  }
}

NodePtr NodeBuilder::build(const Field& field) {
  const YAML::Node& value = field.value;
  if (!value.IsDefined() || value.IsNull()) {
    reporter_.error(field, "missing node: expected " + node_shapes());
    return nullptr;
  }
  if (value.IsScalar()) return reference(field);
  if (value.IsSequence()) {
    reporter_.error(field, "expected " + node_shapes() + ", got a list (write chain: [...] to run steps in order)");
    return nullptr;
  }

  if (node_budget_ == 0) return nullptr;
  if (--node_budget_ == 0) {
    reporter_.error(field, "flow too large: more than 100000 nodes (are YAML aliases expanding?)");
    return nullptr;
  }
  const std::size_t before = reporter_.count();
  MapReader map(reporter_, field);
  std::vector<const MapReader::Entry*> kinds;
  for (const auto& entry : map.entries()) {
    const auto& kind_keys = node_kind_keys();
    if (std::find(kind_keys.begin(), kind_keys.end(), entry.name) != kind_keys.end()) kinds.push_back(&entry);
  }
  if (kinds.empty()) {
    // A misspelt form key is the likely cause; say so instead of "needs one of" when we can.
    if (map.check_keys(all_node_keys())) reporter_.error(field, "a node needs one of: " + kind_list());
    return nullptr;
  }
  if (kinds.size() > 1) {
    const Field& second = kinds[1]->field;
    reporter_.error_at(second.key.Mark(), second.path,
                       "'" + kinds[1]->name + "' cannot be combined with '" + kinds[0]->name +
                           "': a node has exactly one of " + kind_list());
    map.check_keys(all_node_keys());
    return nullptr;
  }

  NodePtr node;
  const std::string& kind = kinds[0]->name;
  if (kind == "chain")
    node = chain(map);
  else if (kind == "parallel")
    node = parallel(map);
  else if (kind == "route")
    node = route(map);
  else if (kind == "batch")
    node = batch(map);
  else if (kind == "flow")
    node = subflow_call(map);
  else
    node = inline_processor(map);
  return reporter_.count() == before ? node : nullptr;
}

NodePtr NodeBuilder::reference(const Field& field) {
  const std::string& name = field.value.Scalar();
  if (auto it = processors_.find(name); it != processors_.end()) return it->second.second;
  if (auto it = subflow_index_.find(name); it != subflow_index_.end()) return subflow(it->second, field);

  std::vector<std::string> names;
  for (const auto& entry : processors_) names.push_back(entry.first);
  for (const auto& sub : subflows_) names.push_back(sub.name);
  std::string message = "unknown processor or sub-flow '" + name + "'";
  if (auto close = suggest(name, names); !close.empty()) {
    message += "; did you mean '" + close + "'?";
  } else if (registry_.find(name)) {
    message +=
        "; '" + name + "' is a processor type: declare an instance under processors, or write {use: " + name + "}";
  }
  reporter_.error(field, std::move(message));
  return nullptr;
}

NodePtr NodeBuilder::subflow(std::size_t index, const Field& reference) {
  Subflow& sub = subflows_[index];
  if (sub.state == BuildState::done) return sub.node;
  if (sub.state == BuildState::building) {
    std::string cycle;
    const auto start = std::find(building_.begin(), building_.end(), index);
    for (auto it = start; it != building_.end(); ++it) cycle += subflows_[*it].name + " -> ";
    reporter_.error(reference, "sub-flow cycle: " + cycle + sub.name);
    return nullptr;
  }
  sub.state = BuildState::building;
  building_.push_back(index);
  // Build from a copy of the definition: subflows_ does not grow during a build, but be safe.
  const Field definition = sub.definition;
  // A sub-flow from an included file reports into that file and takes that file's defaults.
  const ProcessorDefaults* caller_defaults = std::exchange(defaults_, sub.defaults);
  std::string caller_file = reporter_.switch_file(sub.file);
  NodePtr node = build(definition);
  reporter_.switch_file(std::move(caller_file));
  defaults_ = caller_defaults;
  building_.pop_back();
  subflows_[index].node = node;
  subflows_[index].state = BuildState::done;
  return node;
}

}  // namespace am2z
