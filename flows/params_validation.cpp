#include "flows/params_validation.hpp"

#include <map>
#include <mutex>

namespace am2z {

namespace {

/// Schemas compiled so far, by their text: each type's schema is compiled once per process.
Result<std::shared_ptr<const JsonSchema>> compiled(const Json& schema) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const JsonSchema>, std::less<>> cache;
  const std::string key = schema.dump();
  std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto result = JsonSchema::compile(schema);
  if (!result) return fail(result.error());
  auto shared = std::make_shared<const JsonSchema>(std::move(*result));
  cache.emplace(key, shared);
  return shared;
}

}  // namespace

Result<std::vector<SchemaViolation>> check_params(const ProcessorType& type, const Json& with) {
  // A type that publishes no schema (null) takes any parameters, like the schema {}.
  auto schema = compiled(type.params_schema.is_null() ? Json::object() : type.params_schema);
  if (!schema) {
    Error error = errors::configuration(type.name, "invalid params_schema");
    error.message = "processor type '" + type.name +
                    "' publishes an invalid params_schema: " + schema.error().context.value("reason", "");
    return fail(std::move(error));
  }
  return (*schema)->validate(with.is_null() ? Json::object() : with);
}

Result<std::unique_ptr<Processor>> create_processor(const ProcessorType& type, const Json& with) {
  auto violations = check_params(type, with);
  if (!violations) return fail(violations.error());
  if (!violations->empty()) {
    const SchemaViolation& first = violations->front();
    const std::string field = first.field();
    return fail(errors::validation(field.empty() ? "with" : field, nullptr, first.message));
  }
  if (!type.create) return fail(errors::configuration(type.name, "processor type '" + type.name + "' has no factory"));
  return type.create(with);
}

}  // namespace am2z
