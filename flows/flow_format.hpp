#pragma once
// The keys of every map in a flow file, with the JSON Schema of their values. The loader checks
// keys against these tables ("unknown key ... did you mean") and `am2z schema` is generated from
// them, so the editor schema and the validator cannot disagree. A new key is one line here.
#include <string>
#include <vector>

#include "core/json.hpp"

namespace am2z {

/// One key of a flow-file map.
struct FieldSpec {
  std::string name;
  Json schema;  ///< of the value; may "$ref" "#/definitions/<name>" of the flow schema
  std::string description;
  bool required = false;
};

using FieldTable = std::vector<FieldSpec>;

/// The document itself: version, name, include, input, defaults, processors, flows, flow.
const FieldTable& top_level_fields();
/// `defaults:`
const FieldTable& defaults_fields();
/// `retry:` (in defaults and processor instances)
const FieldTable& retry_fields();
/// An entry of `processors:`.
const FieldTable& processor_fields();

/// A map node form: the key that selects it and all the keys it takes (that one included).
struct NodeForm {
  std::string kind;  ///< chain, parallel, route, batch, use, flow
  std::string description;
  FieldTable fields;
};
/// Every map node form, in the order messages list them.
const std::vector<NodeForm>& node_forms();
/// The form whose selecting key is `kind`; nullptr for none.
const NodeForm* find_node_form(std::string_view kind);

/// The names of a table's keys, for MapReader::check_keys.
std::vector<std::string> key_names(const FieldTable& table);

}  // namespace am2z
