#include "flows/execution_plan.hpp"

#include <sstream>

#include "core/units.hpp"
#include "flows/subflow_call.hpp"

namespace am2z {

namespace {

Json retry_json(const RetryPolicy& retry) {
  Json out{{"attempts", retry.attempts},
           {"backoff", format_duration(retry.initial_backoff)},
           {"multiplier", retry.multiplier},
           {"max_backoff", format_duration(retry.max_backoff)}};
  if (retry.jitter > 0) out["jitter"] = retry.jitter;
  Json on = Json::array();
  for (const auto& code : retry.on_codes) on.push_back(code);
  for (const auto category : retry.on_categories) on.push_back(std::string(to_string(category)));
  if (!on.empty()) out["on"] = std::move(on);
  return out;
}

Json node_json(const Flow& flow, const Node& node);

Json processor_json(const Flow& flow, const ProcessorNode& node) {
  const ProcessorInstance& instance = node.instance();
  const StepPolicy& policy = instance.policy;
  Json out{{"kind", "processor"}, {"name", instance.name}, {"type", instance.type}};
  if (instance.type == kSubflowCallType) {
    out["kind"] = "call";
    out.erase("type");
    const std::string target = instance.with.value("flow", "");
    out["flow"] = target;
    if (instance.with.contains("input")) out["input"] = instance.with["input"];
    if (instance.with.contains("output")) out["output"] = instance.with["output"];
    if (const Node* callee = flow.find_callable(target)) out["target"] = node_json(flow, *callee);
  } else if (!instance.description.empty()) {
    out["description"] = instance.description;
  }
  if (policy.timeout) out["timeout"] = format_duration(*policy.timeout);
  if (policy.retry.attempts > 1) out["retry"] = retry_json(policy.retry);
  if (policy.concurrency > 0) out["concurrency"] = policy.concurrency;
  if (policy.rate.count > 0) out["rate"] = std::to_string(policy.rate.count) + "/" + format_duration(policy.rate.per);
  if (policy.priority > 0) out["priority"] = policy.priority;
  if (policy.delay.count() > 0) out["delay"] = format_duration(policy.delay);
  return out;
}

Json children_json(const Flow& flow, const Node& node) {
  Json out = Json::array();
  for (const Node* child : node.children()) out.push_back(node_json(flow, *child));
  return out;
}

Json node_json(const Flow& flow, const Node& node) {
  if (node.kind() == NodeKind::processor) return processor_json(flow, static_cast<const ProcessorNode&>(node));
  Json out{{"kind", std::string(to_string(node.kind()))}, {"name", node.label()}};
  if (node.timeout) out["timeout"] = format_duration(*node.timeout);
  switch (node.kind()) {
    case NodeKind::chain:
      out["steps"] = children_json(flow, node);
      break;
    case NodeKind::parallel:
      out["merge"] = std::string(to_string(static_cast<const ParallelNode&>(node).merge()));
      out["branches"] = children_json(flow, node);
      break;
    case NodeKind::route: {
      const auto& route = static_cast<const RouteNode&>(node);
      out["selector"] = route.selector().text();
      Json cases = Json::array();
      for (const auto& [value, target] : route.cases()) {
        cases.push_back(Json{{"value", value}, {"node", node_json(flow, *target)}});
      }
      out["cases"] = std::move(cases);
      if (route.fallback() != nullptr) out["default"] = node_json(flow, *route.fallback());
      break;
    }
    case NodeKind::batch: {
      const auto& batch = static_cast<const BatchNode&>(node);
      const BatchSpec& spec = batch.spec();
      if (spec.items_path) out["items"] = spec.items_path->text();
      if (spec.items) out["items"] = std::to_string(spec.items->size()) + " listed";
      out["concurrency"] = spec.concurrency;
      out["mode"] = spec.mode == BatchMode::collect ? "collect" : "fail-fast";
      out["output"] = spec.output.text();
      out["target"] = node_json(flow, *node.children().front());
      break;
    }
    case NodeKind::processor:
      break;
  }
  return out;
}

void text_lines(const Json& node, const std::string& indent, const std::string& prefix, std::ostringstream& out) {
  const std::string kind = node["kind"];
  out << indent << prefix;
  if (kind == "processor") {
    out << node["name"].get<std::string>() << ": " << node["type"].get<std::string>();
  } else if (kind == "call") {
    out << "call sub-flow " << node["flow"].get<std::string>();
    if (node.contains("input")) out << " with input " << node["input"].dump();
    if (node.contains("output")) out << ", output to " << node["output"].get<std::string>();
  } else {
    out << kind << " " << node["name"].get<std::string>();
    if (kind == "parallel") out << " (merge " << node["merge"].get<std::string>() << ")";
    if (kind == "route") out << " on " << node["selector"].get<std::string>();
    if (kind == "batch") {
      out << " over " << node["items"].get<std::string>() << " (concurrency " << node["concurrency"].get<int>() << ", "
          << node["mode"].get<std::string>() << ", results to " << node["output"].get<std::string>() << ")";
    }
  }
  if (auto policy = policy_summary(node); !policy.empty()) out << " [" << policy << "]";
  out << "\n";
  const std::string inner = indent + "    ";
  if (kind == "chain") {
    int step = 0;
    for (const auto& child : node["steps"]) text_lines(child, inner, std::to_string(++step) + ". ", out);
  } else if (kind == "parallel") {
    for (const auto& child : node["branches"]) text_lines(child, inner, "| ", out);
  } else if (kind == "route") {
    for (const auto& c : node["cases"])
      text_lines(c["node"], inner, "when " + c["value"].get<std::string>() + ": ", out);
    if (node.contains("default")) text_lines(node["default"], inner, "otherwise: ", out);
  } else if ((kind == "batch" || kind == "call") && node.contains("target")) {
    text_lines(node["target"], inner, kind == "batch" ? "each item: " : "runs: ", out);
  }
}

}  // namespace

Json execution_plan(const Flow& flow) {
  Json plan{{"flow", flow.name}, {"source", flow.source}, {"input_schema", flow.input_schema}};
  if (!flow.description.empty()) plan["description"] = flow.description;
  plan["root"] = flow.root ? node_json(flow, *flow.root) : Json();
  return plan;
}

std::string execution_plan_text(const Json& plan) {
  std::ostringstream out;
  out << "flow " << plan["flow"].get<std::string>() << " (" << plan["source"].get<std::string>() << ")\n";
  out << "input: " << (plan["input_schema"].is_null() ? "any JSON object" : "checked against the flow's input schema")
      << "\n";
  if (plan["root"].is_object()) text_lines(plan["root"], "", "", out);
  return out.str();
}

std::string policy_summary(const Json& node) {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (node.contains("timeout")) add("timeout " + node["timeout"].get<std::string>());
  if (node.contains("retry")) {
    const Json& r = node["retry"];
    std::ostringstream text;
    text << "retry " << r["attempts"].get<int>() << " attempts (backoff " << r["backoff"].get<std::string>() << " x"
         << r["multiplier"].get<double>() << ", max " << r["max_backoff"].get<std::string>() << ")";
    add(text.str());
  }
  if (node.contains("concurrency") && node["kind"] == "processor")
    add("concurrency " + std::to_string(node["concurrency"].get<int>()));
  if (node.contains("rate")) add("rate " + node["rate"].get<std::string>());
  if (node.contains("priority")) add("priority " + std::to_string(node["priority"].get<long long>()));
  if (node.contains("delay")) add("delay " + node["delay"].get<std::string>());
  return out;
}

}  // namespace am2z
