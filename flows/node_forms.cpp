// The map node forms: chain, parallel, route, batch, sub-flow calls and inline processors.
#include <limits>

#include "flows/flow_format.hpp"
#include "flows/names.hpp"
#include "flows/node_builder.hpp"
#include "flows/processor_parser.hpp"
#include "flows/subflow_call.hpp"
#include "flows/suggest.hpp"
#include "flows/yaml_json.hpp"

namespace am2z {

namespace {

/// Reports keys the form's table does not have.
void check_form_keys(const MapReader& map, std::string_view kind) {
  map.check_keys(key_names(find_node_form(kind)->fields));
}

/// A sub-flow's input entry: a string starting with '.' is a path into the caller's state.
bool is_path_text(const YAML::Node& value) {
  return value.IsScalar() && !value.Scalar().empty() && value.Scalar().front() == '.';
}

}  // namespace

NodeBuilder::Common NodeBuilder::common(const MapReader& map) {
  Common out;
  out.label = map.self().path;
  if (const Field* f = map.get("name")) {
    if (auto name = read_string(reporter_, *f)) {
      if (auto problem = name_problem(*name)) reporter_.error(*f, *problem);
      out.label = *name;
    }
  }
  if (const Field* f = map.get("timeout")) out.timeout = read_timeout(reporter_, *f);
  return out;
}

std::optional<std::vector<NodePtr>> NodeBuilder::node_list(const Field& field, std::string_view kind) {
  auto items = read_list(reporter_, field);
  if (!items) return std::nullopt;
  if (items->empty()) {
    reporter_.error(field, std::string(kind) + " must not be empty");
    return std::nullopt;
  }
  std::vector<NodePtr> nodes;
  bool complete = true;
  // Build every item even after a failure, so all their mistakes are reported in this pass.
  for (const auto& item : *items) {
    nodes.push_back(build(item));
    complete = complete && nodes.back();
  }
  if (!complete) return std::nullopt;
  return nodes;
}

NodePtr NodeBuilder::chain(const MapReader& map) {
  check_form_keys(map, "chain");
  Common c = common(map);
  auto steps = node_list(*map.get("chain"), "chain");
  if (!steps) return nullptr;
  auto node = std::make_shared<ChainNode>(std::move(c.label), std::move(*steps));
  node->timeout = c.timeout;
  return node;
}

NodePtr NodeBuilder::parallel(const MapReader& map) {
  check_form_keys(map, "parallel");
  Common c = common(map);
  MergeStrategy merge = MergeStrategy::deep;
  if (const Field* f = map.get("merge")) {
    if (auto text = read_choice(reporter_, *f, {"deep", "shallow", "last-wins"})) merge = *parse_merge_strategy(*text);
  }
  auto branches = node_list(*map.get("parallel"), "parallel");
  if (!branches) return nullptr;
  auto node = std::make_shared<ParallelNode>(std::move(c.label), std::move(*branches), merge);
  node->timeout = c.timeout;
  return node;
}

NodePtr NodeBuilder::route(const MapReader& map) {
  check_form_keys(map, "route");
  Common c = common(map);
  auto selector = read_path(reporter_, *map.get("route"));

  std::vector<std::pair<std::string, NodePtr>> cases;
  bool complete = true;
  bool cases_readable = true;
  const Field* cases_field = map.get("cases");
  if (cases_field) {
    MapReader case_map(reporter_, *cases_field, "a map of cases (value: node)");
    cases_readable = case_map.ok();
    // Keys are matched as written: `true:` and `1:` select the values true and 1 (see RouteNode::key_of).
    for (const auto& entry : case_map.entries()) {
      cases.emplace_back(entry.name, build(entry.field));
      complete = complete && cases.back().second;
    }
  }
  NodePtr fallback;
  const Field* default_field = map.get("default");
  if (default_field) {
    fallback = build(*default_field);
    complete = complete && fallback;
  }
  if (cases_readable && cases.empty() && !default_field) {
    reporter_.error(cases_field ? *cases_field : map.self(), "route needs at least one case or a default");
    return nullptr;
  }
  if (!selector || !complete) return nullptr;
  auto node =
      std::make_shared<RouteNode>(std::move(c.label), std::move(*selector), std::move(cases), std::move(fallback));
  node->timeout = c.timeout;
  return node;
}

NodePtr NodeBuilder::batch(const MapReader& map) {
  check_form_keys(map, "batch");
  Common c = common(map);
  NodePtr target = build(*map.get("batch"));

  BatchSpec spec;
  spec.output = *JsonPath::parse(".batch");
  if (const Field* items = map.require("items")) {
    // A list is the payloads themselves; a string says where in the state to find them.
    if (items->value.IsSequence())
      spec.items = yaml_to_json(reporter_, *items);
    else if (items->value.IsScalar())
      spec.items_path = read_path(reporter_, *items);
    else
      reporter_.error(*items, "expected a list of items or a path such as .orders, got " + describe(items->value));
  }
  if (const Field* f = map.get("concurrency")) {
    if (auto v = read_int(reporter_, *f, 1)) {
      if (*v > std::numeric_limits<int>::max())
        reporter_.error(*f, "concurrency too large: " + std::to_string(*v));
      else
        spec.concurrency = static_cast<int>(*v);
    }
  }
  if (const Field* f = map.get("mode")) {
    if (auto mode = read_choice(reporter_, *f, {"fail-fast", "collect"})) {
      spec.mode = *mode == "collect" ? BatchMode::collect : BatchMode::fail_fast;
    }
  }
  if (const Field* f = map.get("output")) {
    if (auto output = read_path(reporter_, *f)) spec.output = std::move(*output);
  }
  if (!target) return nullptr;
  auto node = std::make_shared<BatchNode>(std::move(c.label), std::move(target), std::move(spec));
  node->timeout = c.timeout;
  return node;
}

NodePtr NodeBuilder::inline_processor(const MapReader& map) {
  check_form_keys(map, "use");

  std::string name;
  if (const Field* f = map.get("name")) {
    if (auto given = read_string(reporter_, *f)) {
      if (auto problem = name_problem(*given)) reporter_.error(*f, *problem);
      name = *given;
    }
  }
  if (name.empty()) {
    // Anonymous instances are named after their type so events and errors still say what ran.
    const Field* use = map.get("use");
    const std::string type = use && use->value.IsScalar() ? use->value.Scalar() : "processor";
    name = type + "#" + std::to_string(++inline_counters_[type]);
  }
  auto instance = parse_processor(reporter_, map, std::move(name), registry_, *defaults_);
  if (!instance) return nullptr;
  inline_.push_back(instance);
  return std::make_shared<ProcessorNode>(instance);
}

}  // namespace am2z

namespace am2z {

NodePtr NodeBuilder::subflow_call(const MapReader& map) {
  check_form_keys(map, "flow");
  Common c = common(map);
  const std::size_t before = reporter_.count();
  const Field& target_field = *map.get("flow");
  std::string target;
  if (auto name = read_string(reporter_, target_field)) {
    target = *name;
    if (auto it = subflow_index_.find(target); it != subflow_index_.end()) {
      subflow(it->second, target_field);  // built (once) for its own mistakes and for cycles
    } else {
      std::vector<std::string> names;
      for (const auto& sub : subflows_) names.push_back(sub.name);
      std::string message = "unknown sub-flow '" + target + "'";
      if (auto close = suggest(target, names); !close.empty())
        message += "; did you mean '" + close + "'?";
      else if (processors_.contains(target))
        message += "; '" + target + "' is a processor instance: name it directly instead of {flow: ...}";
      reporter_.error(target_field, std::move(message));
    }
  }

  SubflowCall call;
  call.target = target;
  Json written = Json::object();
  if (const Field* input = map.get("input")) {
    call.input = std::vector<InputBinding>{};
    MapReader entries(reporter_, *input, "a map of the sub-flow's input (key: .path or value)");
    for (const auto& entry : entries.entries()) {
      InputBinding binding{entry.name, std::nullopt, Json()};
      if (is_path_text(entry.field.value)) {
        binding.path = read_path(reporter_, entry.field);
        written[entry.name] = entry.field.value.Scalar();
      } else {
        binding.literal = yaml_to_json(reporter_, entry.field);
        written[entry.name] = binding.literal;
      }
      call.input->push_back(std::move(binding));
    }
  }
  if (const Field* f = map.get("output")) call.output = read_path(reporter_, *f);
  if (reporter_.count() != before) return nullptr;

  auto instance = std::make_shared<ProcessorInstance>();
  instance->name = c.label;
  instance->type = std::string(kSubflowCallType);
  instance->with = Json{{"flow", target}};
  if (call.input) instance->with["input"] = std::move(written);
  if (call.output) instance->with["output"] = call.output->text();
  instance->policy.timeout = c.timeout;
  instance->impl = make_subflow_call(std::move(call));
  inline_.push_back(instance);
  return std::make_shared<ProcessorNode>(instance);
}

}  // namespace am2z
