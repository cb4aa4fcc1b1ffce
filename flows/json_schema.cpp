// valijson reports errors as English sentences about constraints ("Value type not permitted by
// 'type' constraint."); flow authors get them rephrased from the schema itself: what was expected.
#define VALIJSON_USE_EXCEPTIONS 1
#include "flows/json_schema.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <sstream>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "flows/readers.hpp"
#include "flows/suggest.hpp"

namespace am2z {

namespace {

using Segments = std::vector<JsonPath::Segment>;

/// valijson's context ("<root>", "[lines]", "[0]") as segments: "[0]" is an index when the
/// value there is an array, else a key.
Segments to_segments(const std::vector<std::string>& context, const Json& value) {
  Segments out;
  const Json* cur = &value;
  for (const auto& part : context) {
    if (part.size() < 2 || part.front() != '[' || part.back() != ']') continue;  // "<root>"
    std::string name = part.substr(1, part.size() - 2);
    if (cur != nullptr && cur->is_array()) {
      std::size_t index = 0;
      try {
        index = std::stoul(name);
      } catch (const std::exception&) {
        out.emplace_back(std::move(name));
        cur = nullptr;
        continue;
      }
      out.emplace_back(index);
      cur = index < cur->size() ? &(*cur)[index] : nullptr;
    } else {
      cur = cur != nullptr && cur->is_object() && cur->contains(name) ? &(*cur)[name] : nullptr;
      out.emplace_back(std::move(name));
    }
  }
  return out;
}

const Json* value_at(const Json& value, const Segments& at) {
  const Json* cur = &value;
  for (const auto& seg : at) {
    if (const auto* key = std::get_if<std::string>(&seg)) {
      if (!cur->is_object() || !cur->contains(*key)) return nullptr;
      cur = &(*cur)[*key];
    } else {
      const auto index = std::get<std::size_t>(seg);
      if (!cur->is_array() || index >= cur->size()) return nullptr;
      cur = &(*cur)[index];
    }
  }
  return cur;
}

/// Follows a local "$ref" ("#/definitions/x"); other schemas as they are.
const Json* resolve(const Json& root, const Json* schema) {
  for (int hops = 0; schema != nullptr && schema->is_object() && schema->contains("$ref") && hops < 16; ++hops) {
    const Json& ref = (*schema)["$ref"];
    if (!ref.is_string() || ref.get_ref<const std::string&>().rfind('#', 0) != 0) return nullptr;
    try {
      const Json::json_pointer pointer(ref.get<std::string>().substr(1));
      schema = root.contains(pointer) ? &root[pointer] : nullptr;
    } catch (const std::exception&) {
      return nullptr;
    }
  }
  return schema;
}

/// The schema that governs the value at `at`, when plain properties / items lead there.
const Json* schema_at(const Json& root, const Segments& at) {
  const Json* schema = resolve(root, &root);
  for (const auto& seg : at) {
    if (schema == nullptr || !schema->is_object()) return nullptr;
    if (const auto* key = std::get_if<std::string>(&seg)) {
      const auto props = schema->find("properties");
      if (props != schema->end() && props->is_object() && props->contains(*key)) {
        schema = &(*props)[*key];
      } else if (auto extra = schema->find("additionalProperties"); extra != schema->end() && extra->is_object()) {
        schema = &*extra;
      } else {
        return nullptr;
      }
    } else if (auto items = schema->find("items"); items != schema->end() && items->is_object()) {
      schema = &*items;
    } else {
      return nullptr;
    }
    schema = resolve(root, schema);
  }
  return schema;
}

std::string type_word(const std::string& type) {
  if (type == "object") return "a map";
  if (type == "array") return "a list";
  if (type == "integer") return "an integer";
  if (type == "null") return "null";
  return "a " + type;
}

std::string json_type_word(const Json* value) {
  if (value == nullptr) return "nothing";
  switch (value->type()) {
    case Json::value_t::object:
      return "a map";
    case Json::value_t::array:
      return "a list";
    case Json::value_t::string:
      return "the string " + value->dump();
    case Json::value_t::null:
      return "null";
    default:
      return value->dump();  // numbers and booleans read best as themselves
  }
}

std::string number_text(const Json& number) {
  std::ostringstream out;
  if (number.is_number_integer())
    out << number.get<long long>();
  else
    out << number.get<double>();
  return out.str();
}

/// The name inside the last '...' of a valijson description.
std::string quoted_name(const std::string& description) {
  const auto end = description.rfind('\'');
  const auto start = end == std::string::npos || end == 0 ? std::string::npos : description.rfind('\'', end - 1);
  return start == std::string::npos ? std::string() : description.substr(start + 1, end - start - 1);
}

/// The field path ("properties.id.type") of the first string in `value` equal to `text`.
std::optional<std::string> subpath_of_text(const Json& value, const std::string& text, const std::string& at) {
  if (text.empty()) return std::nullopt;
  if (value.is_string() && value.get_ref<const std::string&>() == text) return at;
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (auto found = subpath_of_text(item, text, at.empty() ? key : at + "." + key)) return found;
    }
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (auto found = subpath_of_text(value[i], text, at + "[" + std::to_string(i) + "]")) return found;
    }
  }
  return std::nullopt;
}

bool starts_with(const std::string& text, std::string_view prefix) { return text.rfind(prefix, 0) == 0; }

/// valijson also reports every enclosing value of a failure ("Failed to validate against schema
/// associated with property name 'x'"); those say nothing the inner error does not.
bool is_wrapper(const std::string& description) {
  return starts_with(description, "Failed to validate against schema associated") ||
         starts_with(description, "Failed to validate item #") ||
         starts_with(description, "Failed to validate against child schema") ||
         starts_with(description, "Failed to validate against additional properties") ||
         starts_with(description, "Failed to validate against a conditional schema");
}

/// Rephrases one valijson error; may move `at` to the offending key (unknown keys).
std::string rephrase(const Json& root, const Json& value, Segments& at, const std::string& description) {
  const Json* schema = schema_at(root, at);
  const Json* here = value_at(value, at);
  auto keyword = [&](const char* name) -> const Json* {
    return schema != nullptr && schema->is_object() && schema->contains(name) ? &(*schema)[name] : nullptr;
  };
  if (starts_with(description, "Value type not permitted")) {
    if (const Json* type = keyword("type")) {
      std::vector<std::string> words;
      if (type->is_string()) words.push_back(type_word(type->get<std::string>()));
      if (type->is_array())
        for (const auto& t : *type)
          if (t.is_string()) words.push_back(type_word(t.get<std::string>()));
      return "expected " + or_list(words) + ", got " + json_type_word(here);
    }
    if (const Json* options = keyword("anyOf"); options != nullptr && options->is_array()) {
      // One of several forms: name each ("a string or a map with path").
      std::vector<std::string> words;
      for (const auto& option : *options) {
        const Json* alt = resolve(root, &option);
        if (alt == nullptr || !alt->is_object() || !alt->contains("type") || !(*alt)["type"].is_string()) continue;
        std::string word = type_word((*alt)["type"].get<std::string>());
        if (auto req = alt->find("required"); req != alt->end() && req->is_array() && !req->empty()) {
          std::vector<std::string> keys;
          for (const auto& k : *req)
            if (k.is_string()) keys.push_back(k.get<std::string>());
          word += " with " + or_list(keys);
        }
        words.push_back(std::move(word));
      }
      if (!words.empty()) return "expected " + or_list(words) + ", got " + json_type_word(here);
    }
    return "has the wrong type (" + json_type_word(here) + ")";
  }
  if (starts_with(description, "Missing required property")) {
    at.emplace_back(quoted_name(description));  // the field path names the missing key
    return "missing required key '" + std::get<std::string>(at.back()) + "'";
  }
  if (starts_with(description, "Object contains a property that could not be validated")) {
    std::string key = quoted_name(description);
    std::vector<std::string> known;
    if (const Json* props = keyword("properties"); props != nullptr && props->is_object())
      for (const auto& item : props->items()) known.push_back(item.key());
    at.emplace_back(key);
    std::string message = "unknown key '" + key + "'";
    if (auto close = suggest(key, known); !close.empty()) return message + "; did you mean '" + close + "'?";
    if (known.empty()) return message + "; none are allowed here";
    return message + "; expected one of: " + or_list(known);
  }
  if (starts_with(description, "Failed to match against any enum values")) {
    if (const Json* options = keyword("enum"); options != nullptr && options->is_array()) {
      std::vector<std::string> words;
      for (const auto& o : *options) words.push_back(o.is_string() ? o.get<std::string>() : o.dump());
      const bool text = here != nullptr && here->is_string();
      std::string message = "unknown value " + (text ? "'" + here->get<std::string>() + "'" : json_type_word(here));
      if (here != nullptr && here->is_string())
        if (auto close = suggest(here->get<std::string>(), words); !close.empty())
          return message + "; did you mean '" + close + "'?";
      return message + "; expected " + or_list(words);
    }
  }
  if (starts_with(description, "Expected number greater than or equal to")) {
    if (const Json* min = keyword("minimum"))
      return "must be at least " + number_text(*min) + ", got " + json_type_word(here);
  }
  if (starts_with(description, "Expected number less than or equal to")) {
    if (const Json* max = keyword("maximum"))
      return "must be at most " + number_text(*max) + ", got " + json_type_word(here);
  }
  if (starts_with(description, "String should be no fewer than")) {
    if (const Json* min = keyword("minLength"); min != nullptr && *min == 1) return "must not be empty";
  }
  if (starts_with(description, "Array should contain no fewer than")) {
    if (const Json* min = keyword("minItems"); min != nullptr && *min == 1) return "must not be an empty list";
  }
  if (starts_with(description, "Failed to match regex")) {
    if (const Json* pattern = keyword("pattern")) return "does not match the pattern " + pattern->get<std::string>();
  }
  if (starts_with(description, "Failed to match expected value set by 'const'")) {
    if (const Json* expected = keyword("const")) return "must be " + expected->dump();
  }
  if (starts_with(description, "Failed to validate against exactly one")) {
    // oneOf of alternatives that each require one key: "give exactly one of: value or from".
    if (const Json* options = keyword("oneOf"); options != nullptr && options->is_array()) {
      std::vector<std::string> keys;
      for (const auto& option : *options) {
        auto req = option.find("required");
        if (!option.is_object() || option.size() != 1 || req == option.end() || !req->is_array() || req->size() != 1)
          return "matches none of the allowed forms";
        keys.push_back((*req)[0].get<std::string>());
      }
      return "give exactly one of: " + or_list(keys);
    }
  }
  if (starts_with(description, "Failed to validate against any schemas allowed by anyOf") ||
      starts_with(description, "Failed to validate against exactly one schema"))
    return "matches none of the allowed forms";
  std::string text = description;
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

}  // namespace

std::string SchemaViolation::pointer() const {
  std::string out;
  for (const auto& seg : at) {
    out += '/';
    if (const auto* key = std::get_if<std::string>(&seg)) {
      for (char c : *key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
    } else {
      out += std::to_string(std::get<std::size_t>(seg));
    }
  }
  return out;
}

std::string SchemaViolation::field() const {
  std::string out;
  for (const auto& seg : at) {
    if (const auto* key = std::get_if<std::string>(&seg))
      out += (out.empty() ? "" : ".") + *key;
    else
      out += "[" + std::to_string(std::get<std::size_t>(seg)) + "]";
  }
  return out;
}

Result<JsonSchema> JsonSchema::compile(const Json& schema) {
  if (!schema.is_object() && !schema.is_boolean()) {
    return fail(errors::validation("schema", schema, "a JSON Schema is a map (or true/false)"));
  }
  JsonSchema out;
  out.source_ = std::make_shared<const Json>(schema);
  auto compiled = std::make_shared<valijson::Schema>();
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(*out.source_);
    parser.populateSchema(adapter, *compiled);
  } catch (const std::exception& e) {
    Error error = errors::validation("schema", nullptr, std::string("invalid JSON Schema: ") + e.what());
    // valijson names the offending word ('objct') but not where it is: find the value that says it.
    if (auto at = subpath_of_text(schema, quoted_name(e.what()), "")) error.context["at"] = *at;
    return fail(std::move(error));
  }
  out.schema_ = std::move(compiled);
  return out;
}

std::vector<SchemaViolation> JsonSchema::validate(const Json& value) const {
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(value);
  if (validator.validate(*schema_, target, &results)) return {};

  std::vector<SchemaViolation> specific;
  std::vector<SchemaViolation> wrappers;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    SchemaViolation v{to_segments(error.context, value), ""};
    v.message = rephrase(*source_, value, v.at, error.description);
    auto& list = is_wrapper(error.description) ? wrappers : specific;
    bool seen = false;
    for (const auto& other : list) seen = seen || (other.at == v.at && other.message == v.message);
    if (!seen) list.push_back(std::move(v));
  }
  // A misspelt key usually explains the rest ("missing required key"): it comes first.
  std::stable_partition(specific.begin(), specific.end(),
                        [](const SchemaViolation& v) { return v.message.starts_with("unknown key"); });
  // "matches none of the allowed forms" says nothing a specific message at the same place does not.
  std::erase_if(specific, [&](const SchemaViolation& v) {
    if (v.message != "matches none of the allowed forms") return false;
    return std::any_of(specific.begin(), specific.end(), [&](const SchemaViolation& other) {
      return &other != &v && other.at == v.at && other.message != v.message;
    });
  });
  return specific.empty() ? wrappers : specific;
}

}  // namespace am2z
