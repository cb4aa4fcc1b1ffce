#include "plugins/params.hpp"

#include <string>

#include "core/units.hpp"

namespace am2z::params {

namespace {

std::string joined(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

Status check_keys(const Json& with, std::initializer_list<std::string_view> allowed) {
  if (with.is_null()) return {};
  if (!with.is_object()) return fail(errors::validation("with", with, "must be a mapping of parameters"));
  for (const auto& [key, value] : with.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (!known) {
      std::string reason = allowed.size() == 0
                               ? "unknown parameter; this processor takes none"
                               : "unknown parameter; expected one of: " + joined({allowed.begin(), allowed.size()});
      return fail(errors::validation(key, value, std::move(reason)));
    }
  }
  return {};
}

const Json* find(const Json& with, std::string_view key) {
  if (!with.is_object()) return nullptr;
  auto it = with.find(key);
  return it == with.end() ? nullptr : &*it;
}

Error missing(std::string_view field) { return errors::validation(std::string(field), nullptr, "is required"); }

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

Result<std::string> as_string(const Json& value, std::string_view field, bool non_empty) {
  if (!value.is_string()) return fail(errors::validation(std::string(field), value, "must be a string"));
  std::string s = value.get<std::string>();
  if (non_empty && s.empty()) return fail(errors::validation(std::string(field), value, "must not be empty"));
  return s;
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

Result<long long> as_integer(const Json& value, std::string_view field, long long min) {
  if (!value.is_number_integer()) {
    return fail(errors::validation(std::string(field), value, "must be an integer"));
  }
  auto n = value.get<long long>();
  if (n < min) {
    return fail(errors::validation(std::string(field), value, "must be at least " + std::to_string(min)));
  }
  return n;
}

Result<std::string> as_choice(const Json& value, std::string_view field, std::span<const std::string_view> choices) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    for (std::string_view c : choices) {
      if (c == s) return s;
    }
  }
  return fail(errors::validation(std::string(field), value, "must be one of: " + joined(choices)));
}

Result<JsonPath> as_path(const Json& value, std::string_view field, bool allow_root) {
  auto text = as_string(value, field, /*non_empty=*/true);
  if (!text) return fail(text.error());
  // "a.b" and ".a.b" mean the same: flow authors write both.
  auto path = JsonPath::parse(text->front() == '.' ? *text : "." + *text);
  if (!path) return fail(errors::validation(std::string(field), value, reason_of(path.error())));
  if (path->is_root() && !allow_root) {
    return fail(
        errors::validation(std::string(field), value, "must name a field such as .status, not the whole state"));
  }
  if (!path->is_root()) {
    const auto* first = std::get_if<std::string>(&path->segments().front());
    if (first == nullptr) return fail(errors::validation(std::string(field), value, "must start with a field name"));
    if (*first == "metadata")
      return fail(errors::validation(std::string(field), value, "metadata is owned by the engine"));
  }
  return path;
}

Result<std::vector<JsonPath>> as_paths(const Json& value, std::string_view field) {
  if (!value.is_array() || value.empty()) {
    return fail(errors::validation(std::string(field), value, "must be a non-empty list of paths such as .a.b"));
  }
  std::vector<JsonPath> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto path = as_path(value[i], std::string(field) + "[" + std::to_string(i) + "]", /*allow_root=*/false);
    if (!path) return fail(path.error());
    out.push_back(std::move(*path));
  }
  return out;
}

Json path_schema(std::string_view description) {
  return Json{{"type", "string"}, {"minLength", 1}, {"description", std::string(description) + " (e.g. .order.total)"}};
}

Json duration_schema(std::string_view description) {
  return Json{{"type", Json::array({"string", "integer"})},
              {"description", std::string(description) + " (e.g. 500ms, 2s, 5m; an integer means milliseconds)"}};
}

}  // namespace am2z::params
