#include "flows/yaml_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

namespace am2z {

namespace {

bool any_of(std::string_view text, std::initializer_list<std::string_view> options) {
  for (auto option : options) {
    if (text == option) return true;
  }
  return false;
}

bool all_digits(std::string_view text, int base) {
  if (text.empty()) return false;
  for (char c : text) {
    int digit = -1;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    if (digit < 0 || digit >= base) return false;
  }
  return true;
}

/// A decimal number as a double: +-inf when it is too large for one, 0 when too small (like JSON).
double to_double(std::string_view digits) {
  double value = 0;
  if (std::from_chars(digits.data(), digits.data() + digits.size(), value).ec == std::errc()) return value;
  return std::strtod(std::string(digits).c_str(), nullptr);  // out of range: tells overflow from underflow
}

/// YAML 1.2 core-schema integer, or nullopt. Out-of-range values come back as a double in `wide`.
std::optional<std::int64_t> parse_integer(std::string_view text, std::optional<double>& wide) {
  int base = 10;
  bool negative = false;
  std::string_view digits = text;
  if (text.starts_with("0x")) {
    base = 16;
    digits.remove_prefix(2);
  } else if (text.starts_with("0o")) {
    base = 8;
    digits.remove_prefix(2);
  } else if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    digits.remove_prefix(1);
  }
  if (!all_digits(digits, base)) return std::nullopt;
  std::uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  (void)ptr;
  const auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (ec == std::errc() && magnitude <= max) {
    const auto value = static_cast<std::int64_t>(magnitude);
    return negative ? -value : value;
  }
  if (ec == std::errc() && negative && magnitude == max + 1) return std::numeric_limits<std::int64_t>::min();
  if (base == 10) {  // too big for int64: keep the magnitude at least
    const double approx = to_double(digits);
    wide = negative ? -approx : approx;
  }
  return std::nullopt;
}

/// YAML 1.2 core-schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, .inf, .nan.
std::optional<double> parse_float(std::string_view text) {
  std::string_view body = text;
  const bool negative = !body.empty() && body.front() == '-';
  if (!body.empty() && (body.front() == '-' || body.front() == '+')) body.remove_prefix(1);
  if (any_of(body, {".inf", ".Inf", ".INF"})) {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (any_of(text, {".nan", ".NaN", ".NAN"})) return std::numeric_limits<double>::quiet_NaN();
  // Check the shape by hand: from_chars alone would also take "1." prefixes of longer junk, "inf", hex.
  std::size_t i = 0;
  std::size_t int_digits = 0;
  std::size_t frac_digits = 0;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++int_digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '-' || body[i] == '+')) ++i;
    const std::size_t exp_start = i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i;
    if (i == exp_start) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  const double value = to_double(body);
  return negative ? -value : value;
}

/// YAML aliases share nodes, so a small file can denote an exponentially large value ("billion
/// laughs"); converting stops after this many values instead of exhausting memory.
constexpr std::size_t kMaxValues = 100'000;

void convert(Reporter& reporter, const Field& field, const std::string& sub, MarkIndex* marks, Json& out,
             std::size_t& budget) {
  if (budget == 0) return;
  if (--budget == 0) {
    reporter.error(
        field, "value too large: more than " + std::to_string(kMaxValues) + " values (are YAML aliases expanding?)");
    return;
  }
  if (marks) marks->emplace(sub, mark_of(field));
  const YAML::Node& node = field.value;
  if (!node.IsDefined() || node.IsNull()) {
    out = nullptr;
  } else if (node.IsScalar()) {
    auto value = scalar_to_json(node);
    if (!value) reporter.error(field, value.error());
    out = value ? std::move(*value) : Json();
  } else if (node.IsSequence()) {
    out = Json::array();
    std::size_t index = 0;
    for (const auto& item : node) {
      Json value;
      convert(reporter, field.item(item, index), sub + "[" + std::to_string(index) + "]", marks, value, budget);
      out.push_back(std::move(value));
      ++index;
    }
  } else {
    out = Json::object();
    std::map<std::string, int, std::less<>> first_line;  // for duplicate keys, which YAML forbids
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        reporter.error(Field{YAML::Node(), kv.first, field.path},
                       "map keys must be strings, got " + describe(kv.first));
        continue;
      }
      const std::string key = kv.first.Scalar();
      Field entry = field.child(kv.first, kv.second, key);
      if (auto [it, fresh] = first_line.emplace(key, kv.first.Mark().line + 1); !fresh) {
        reporter.error_at(kv.first.Mark(), entry.path,
                          "duplicate key '" + key + "' (first defined on line " + std::to_string(it->second) + ")");
        continue;
      }
      convert(reporter, entry, join_path(sub, key), marks, out[key], budget);
    }
  }
}

}  // namespace

std::expected<Json, std::string> scalar_to_json(const YAML::Node& scalar) {
  if (!scalar.IsDefined() || scalar.IsNull()) return nullptr;
  const std::string& text = scalar.Scalar();
  const std::string& tag = scalar.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;
  if (any_of(text, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (any_of(text, {"true", "True", "TRUE"})) return true;
  if (any_of(text, {"false", "False", "FALSE"})) return false;
  std::optional<double> wide;
  if (auto integer = parse_integer(text, wide)) return *integer;
  const std::optional<double> number = wide ? wide : parse_float(text);
  if (!number) return text;
  // .inf is infinite as written; digits that only fit as infinity are a mistake, not a value.
  if (!std::isinf(*number) || text.find_first_of("0123456789") == std::string::npos) return *number;
  const std::string shown = text.size() > 40 ? text.substr(0, 40) + "..." : text;
  return std::unexpected("number out of range: '" + shown + "' is beyond what a double holds (about 1.8e308)");
}

Json yaml_to_json(Reporter& reporter, const Field& field, MarkIndex* marks) {
  Json out;
  std::size_t budget = kMaxValues;
  convert(reporter, field, "", marks, out, budget);
  return out;
}

}  // namespace am2z
