#include "flows/input_contract.hpp"

#include "flows/json_schema.hpp"

namespace am2z {

Status check_input(const Flow& flow, const Json& data) {
  if (flow.input_schema.is_null()) return {};
  auto schema = JsonSchema::compile(flow.input_schema);  // the loader compiled it once already
  if (!schema) return fail(schema.error());
  const auto violations = schema->validate(data);
  if (violations.empty()) return {};

  Json list = Json::array();
  for (const auto& v : violations) list.push_back(Json{{"pointer", v.pointer()}, {"message", v.message}});
  const SchemaViolation& first = violations.front();
  const std::string where = first.pointer().empty() ? "/" : first.pointer();
  // The offending value itself, so a caller sees what was refused; null where it is missing (or
  // where the pointer cannot be followed: the value is a courtesy, never a reason to throw).
  Json value;
  try {
    const Json::json_pointer at(first.pointer());
    if (data.contains(at)) value = data.at(at);
  } catch (const Json::exception&) {
    value = nullptr;
  }
  Error error = errors::validation(where, std::move(value), first.message);
  error.message =
      "input does not match the input schema of flow '" + flow.name + "' at " + where + ": " + first.message;
  if (violations.size() > 1) error.message += " (and " + std::to_string(violations.size() - 1) + " more)";
  error.context["violations"] = std::move(list);
  return fail(std::move(error));
}

}  // namespace am2z
