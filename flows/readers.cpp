#include "flows/readers.hpp"

#include <cmath>
#include <exception>
#include <sstream>

#include "core/units.hpp"
#include "flows/suggest.hpp"
#include "flows/yaml_json.hpp"

namespace am2z {

namespace {

/// The reason a core parser gave (context.reason), else its whole message.
std::string reason_of(const Error& error) {
  if (auto it = error.context.find("reason"); it != error.context.end() && it->is_string()) {
    return it->get<std::string>();
  }
  return error.message;
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string comma_list(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : ", ") + word;
  return out;
}

/// JsonPath::parse, except that its std::out_of_range for an index beyond 64 bits becomes an error too.
Result<JsonPath> parse_path(const std::string& text) {
  try {
    return JsonPath::parse(text);
  } catch (const std::exception& e) {
    return fail(errors::validation("path", text, "invalid path '" + text + "': " + e.what()));
  }
}

bool is_scalar(const Field& field) { return field.value.IsDefined() && field.value.IsScalar(); }

/// The field's JSON value when it is a scalar (null otherwise); nullopt once a number out of
/// range has been reported.
std::optional<Json> scalar_value(Reporter& reporter, const Field& field) {
  if (!is_scalar(field)) return Json();
  auto value = scalar_to_json(field.value);
  if (value) return std::move(*value);
  reporter.error(field, value.error());
  return std::nullopt;
}

}  // namespace

std::optional<std::string> read_string(Reporter& reporter, const Field& field) {
  if (!is_scalar(field) || field.value.Scalar().empty()) {
    reporter.error(field, "expected a string, got " + describe(field.value));
    return std::nullopt;
  }
  return field.value.Scalar();
}

std::optional<std::int64_t> read_int(Reporter& reporter, const Field& field, std::int64_t min) {
  const auto scalar = scalar_value(reporter, field);
  if (!scalar) return std::nullopt;
  const Json& value = *scalar;
  if (!value.is_number_integer()) {
    reporter.error(field, "expected an integer, got " + describe(field.value));
    return std::nullopt;
  }
  const auto number = value.get<std::int64_t>();
  if (number < min) {
    reporter.error(field, "must be at least " + std::to_string(min) + ", got " + std::to_string(number));
    return std::nullopt;
  }
  return number;
}

std::optional<double> read_number(Reporter& reporter, const Field& field, double min, double max) {
  const auto scalar = scalar_value(reporter, field);
  if (!scalar) return std::nullopt;
  const Json& value = *scalar;
  if (!value.is_number() || std::isnan(value.get<double>())) {
    reporter.error(field, "expected a number, got " + describe(field.value));
    return std::nullopt;
  }
  const auto number = value.get<double>();
  if (number < min || number > max) {
    const std::string range = std::isinf(max) ? "at least " + format_number(min)
                                              : "between " + format_number(min) + " and " + format_number(max);
    reporter.error(field, "must be " + range + ", got " + field.value.Scalar());
    return std::nullopt;
  }
  return number;
}

std::optional<Millis> read_duration(Reporter& reporter, const Field& field) {
  if (!is_scalar(field)) {
    reporter.error(field, "expected a duration such as 500ms, 30s, 5m or 1h, got " + describe(field.value));
    return std::nullopt;
  }
  auto parsed = parse_duration(field.value.Scalar());
  if (!parsed) {
    reporter.error(field, reason_of(parsed.error()));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<Millis> read_timeout(Reporter& reporter, const Field& field) {
  auto duration = read_duration(reporter, field);
  if (duration && duration->count() <= 0) {
    reporter.error(field, "a timeout must be greater than 0");
    return std::nullopt;
  }
  return duration;
}

std::optional<RateLimit> read_rate(Reporter& reporter, const Field& field) {
  if (!is_scalar(field)) {
    reporter.error(field, "expected a rate such as 100/min or 10/s, got " + describe(field.value));
    return std::nullopt;
  }
  auto parsed = parse_rate(field.value.Scalar());
  if (!parsed) {
    reporter.error(field, reason_of(parsed.error()));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<JsonPath> read_path(Reporter& reporter, const Field& field) {
  if (!is_scalar(field)) {
    reporter.error(field, "expected a path such as .order.status, got " + describe(field.value));
    return std::nullopt;
  }
  auto parsed = parse_path(field.value.Scalar());
  if (!parsed) {
    reporter.error(field, reason_of(parsed.error()));
    return std::nullopt;
  }
  return std::move(*parsed);
}

std::optional<std::vector<Field>> read_list(Reporter& reporter, const Field& field) {
  std::vector<Field> items;
  if (!field.value.IsDefined() || field.value.IsNull()) return items;
  if (!field.value.IsSequence()) {
    reporter.error(field, "expected a list, got " + describe(field.value));
    return std::nullopt;
  }
  std::size_t index = 0;
  for (const auto& item : field.value) items.push_back(field.item(item, index++));
  return items;
}

std::optional<std::string> read_choice(Reporter& reporter, const Field& field,
                                       const std::vector<std::string>& options) {
  auto text = read_string(reporter, field);
  if (!text) return std::nullopt;
  for (const auto& option : options) {
    if (*text == option) return text;
  }
  std::string message = "unknown value '" + *text + "'";
  if (auto close = suggest(*text, options); !close.empty())
    message += "; did you mean '" + close + "'?";
  else
    message += "; expected " + or_list(options);
  reporter.error(field, std::move(message));
  return std::nullopt;
}

std::string or_list(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += words[i];
  }
  return out;
}

MapReader::MapReader(Reporter& reporter, Field field, std::string_view what)
    : reporter_(reporter), self_(std::move(field)) {
  const YAML::Node& node = self_.value;
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    reporter_.error(self_, "expected " + std::string(what) + ", got " + describe(node));
    ok_ = false;
    return;
  }
  // Range-for keeps each entry alive; `it->first` would be a member of a temporary.
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      reporter_.error(Field{YAML::Node(), key, self_.path}, "map keys must be strings, got " + describe(key));
      continue;
    }
    Field entry = self_.child(key, kv.second, key.Scalar());
    if (const Field* first = get(key.Scalar())) {
      reporter_.error_at(key.Mark(), entry.path,
                         "duplicate key '" + key.Scalar() + "' (first defined on line " +
                             std::to_string(first->key.Mark().line + 1) + ")");
      continue;
    }
    entries_.push_back(Entry{key.Scalar(), std::move(entry)});
  }
}

const Field* MapReader::get(std::string_view key) const {
  for (const auto& entry : entries_) {
    if (entry.name == key) return &entry.field;
  }
  return nullptr;
}

const Field* MapReader::require(std::string_view key) const {
  const Field* found = get(key);
  if (!found && ok_) reporter_.error(self_, "missing required key '" + std::string(key) + "'");
  return found;
}

bool MapReader::check_keys(const std::vector<std::string>& allowed) const {
  bool clean = true;
  for (const auto& entry : entries_) {
    bool known = false;
    for (const auto& name : allowed) known = known || name == entry.name;
    if (known) continue;
    clean = false;
    std::string message = "unknown key '" + entry.name + "'";
    if (auto close = suggest(entry.name, allowed); !close.empty())
      message += "; did you mean '" + close + "'?";
    else
      message += "; expected one of: " + comma_list(allowed);
    reporter_.error_at(entry.field.key.Mark(), entry.field.path, std::move(message));
  }
  return clean;
}

}  // namespace am2z
