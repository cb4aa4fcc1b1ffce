#include "plugins/params.hpp"

#include <string>

#include "core/units.hpp"

namespace am2z::params {

const Json* find(const Json& with, std::string_view key) {
  if (!with.is_object()) return nullptr;
  auto it = with.find(key);
  return it == with.end() ? nullptr : &*it;
}

std::string text(const Json& with, std::string_view key, std::string fallback) {
  const Json* value = find(with, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : fallback;
}

std::string reason_of(const Error& error) {
  if (error.context.is_object()) {
    if (auto it = error.context.find("reason"); it != error.context.end() && it->is_string())
      return it->get<std::string>();
  }
  return error.message;
}

Result<Millis> as_duration(const Json& value, std::string_view field) {
  // YAML `kill_grace: 500` arrives as a number: read it as milliseconds, like parse_duration("500").
  if (value.is_number_integer()) {
    auto ms = value.get<long long>();
    if (ms < 0) return fail(errors::validation(std::string(field), value, "must not be negative"));
    return Millis(ms);
  }
  if (!value.is_string()) {
    return fail(errors::validation(std::string(field), value, "must be a duration such as 500ms, 2s, 5m or 1h"));
  }
  auto parsed = parse_duration(value.get<std::string>());
  if (!parsed) {
    return fail(errors::validation(std::string(field), value, reason_of(parsed.error())));
  }
  if (parsed->count() < 0) return fail(errors::validation(std::string(field), value, "must not be negative"));
  return *parsed;
}

Json duration_schema(std::string_view description) {
  return Json{{"type", Json::array({"string", "integer"})},
              {"minimum", 0},
              {"description", std::string(description) + " (e.g. 500ms, 2s, 5m; an integer means milliseconds)"}};
}

}  // namespace am2z::params
