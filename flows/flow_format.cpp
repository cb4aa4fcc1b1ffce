#include "flows/flow_format.hpp"

#include "core/policy.hpp"

namespace am2z {

namespace {

Json ref(const std::string& definition) { return Json{{"$ref", "#/definitions/" + definition}}; }

Json typed(const char* type) { return Json{{"type", type}}; }

/// `name` and `timeout`: every composite node takes them.
FieldTable with_common(FieldTable fields) {
  fields.push_back({"name", ref("name"), "label in events, errors and graphs (default: the field path)"});
  fields.push_back({"timeout", ref("timeout"), "limit on the whole node"});
  return fields;
}

}  // namespace

const FieldTable& top_level_fields() {
  static const FieldTable table{
      {"version", Json{{"const", 1}}, "format version: 1", true},
      {"name", ref("name"), "flow name (required in the file you run; optional in an included one)"},
      {"description", typed("string"), "what the flow does"},
      {"plugins", Json{{"type", "array"}, {"items", Json{{"type", "string"}, {"minLength", 1}}}},
       "plugin files (relative to this one) whose processor types this flow uses; loaded first"},
      {"include", Json{{"type", "array"}, {"items", Json{{"type", "string"}, {"minLength", 1}}}},
       "flow files (relative to this one) whose processors and flows become available here"},
      {"input", Json{{"type", Json::array({"object", "boolean"})}},
       "JSON Schema (draft-07) the input state must match; am2z run rejects other input with exit code 3"},
      {"defaults", ref("defaults"), "timeout and retry for every processor instance that sets none"},
      {"processors",
       Json{{"type", "object"}, {"propertyNames", ref("name")}, {"additionalProperties", ref("processor")}},
       "named processor instances"},
      {"flows", Json{{"type", "object"}, {"propertyNames", ref("name")}, {"additionalProperties", ref("node")}},
       "named sub-flows, usable wherever a processor is"},
      {"flow", ref("node"), "the root node (optional in a file that is only included)"},
  };
  return table;
}

const FieldTable& defaults_fields() {
  static const FieldTable table{
      {"timeout", ref("timeout"), "per-attempt timeout"},
      {"retry", ref("retry"), "retry policy"},
  };
  return table;
}

const FieldTable& retry_fields() {
  static const FieldTable table{
      {"attempts", Json{{"type", "integer"}, {"minimum", 1}}, "attempts in all, the first included (default 1)"},
      {"backoff", ref("duration"), "wait before the second attempt (default 100ms)"},
      {"multiplier", Json{{"type", "number"}, {"minimum", 1}}, "backoff growth per attempt (default 2)"},
      {"max_backoff", ref("duration"), "cap on the wait (default 30s)"},
      {"jitter", Json{{"type", "number"}, {"minimum", 0}, {"maximum", 1}}, "random share of the wait (0..1)"},
      {"on", Json{{"type", "array"}, {"items", typed("string")}},
       "error codes or categories worth retrying (default: retryable errors)"},
  };
  return table;
}

const FieldTable& processor_fields() {
  static const FieldTable table{
      {"use", typed("string"), "processor type", true},
      {"with", typed("object"), "parameters of the processor type"},
      {"timeout", ref("timeout"), "per-attempt timeout"},
      {"retry", ref("retry"), "retry policy (replaces defaults.retry whole)"},
      {"concurrency", Json{{"type", "integer"}, {"minimum", 1}}, "runs at once, across all uses"},
      {"rate", ref("rate"), "starts per period, e.g. 100/min"},
      {"priority", Json{{"type", "integer"}, {"minimum", 1}, {"maximum", kMaxPriority}},
       "with --redis: queued behind steps of a lower number (1 first)"},
      {"delay", ref("duration"), "start this much later each time the step is reached"},
      {"description", typed("string"), "what this instance is for"},
  };
  return table;
}

const std::vector<NodeForm>& node_forms() {
  static const std::vector<NodeForm> forms = [] {
    FieldTable inline_processor = processor_fields();
    inline_processor.push_back({"name", ref("name"), "instance name (default: <type>#<n>)"});
    return std::vector<NodeForm>{
        {"chain", "steps in order, each on the previous one's output",
         with_common({{"chain", ref("nodes"), "the steps", true}})},
        {"parallel", "branches on copies of the same input, merged when all succeed",
         with_common({{"parallel", ref("nodes"), "the branches", true},
                      {"merge", Json{{"enum", Json::array({"deep", "shallow", "last-wins"})}},
                       "how branch outputs combine (default deep)"}})},
        {"route", "one target chosen by the value at a path",
         with_common({{"route", ref("path"), "selector, e.g. .order.status", true},
                      {"cases", Json{{"type", "object"}, {"additionalProperties", ref("node")}}, "value -> node"},
                      {"default", ref("node"), "when no case matches"}})},
        {"batch", "one target over many payloads",
         with_common({{"batch", ref("node"), "what runs for each item", true},
                      {"items", Json{{"anyOf", Json::array({typed("array"), ref("path")})}},
                       "the payloads, or a path to a list in the state", true},
                      {"concurrency", Json{{"type", "integer"}, {"minimum", 1}}, "items at once (default 8)"},
                      {"mode", Json{{"enum", Json::array({"fail-fast", "collect"})}}, "on an item's failure"},
                      {"output", ref("path"), "where {results, errors, counts} goes (default .batch)"}})},
        {"flow", "a sub-flow called with a mapped input; its output merges back",
         with_common({{"flow", ref("name"), "the sub-flow", true},
                      {"input", Json{{"type", "object"}},
                       "the sub-flow's input: key -> .path in this state, or a literal value"},
                      {"output", ref("path"), "where the sub-flow's output goes (default: merged into the state)"}})},
        {"use", "an inline processor instance", std::move(inline_processor)},
    };
  }();
  return forms;
}

const NodeForm* find_node_form(std::string_view kind) {
  for (const auto& form : node_forms()) {
    if (form.kind == kind) return &form;
  }
  return nullptr;
}

std::vector<std::string> key_names(const FieldTable& table) {
  std::vector<std::string> names;
  names.reserve(table.size());
  for (const auto& field : table) names.push_back(field.name);
  return names;
}

}  // namespace am2z
