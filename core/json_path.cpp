#include "core/json_path.hpp"

#include <cctype>
#include <charconv>

namespace am2z {

namespace {
/// Assigning past an array's end pads it with nulls; this bounds the padding so a typo such as
/// [1000000000] is an error, not an out-of-memory.
constexpr std::size_t kMaxPadding = 100'000;

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '$' || c == '@';
}

Error bad_path(std::string_view text, std::size_t pos, const std::string& why) {
  return errors::validation(
      "path", std::string(text),
      "invalid path '" + std::string(text) + "' at character " + std::to_string(pos + 1) + ": " + why);
}
}  // namespace

Result<JsonPath> JsonPath::parse(std::string_view text) {
  JsonPath p;
  p.text_ = std::string(text);
  if (text.empty() || text.front() != '.') return fail(bad_path(text, 0, "a path starts with '.' (the root is '.')"));
  if (text == ".") return p;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '.') {
      ++i;
      if (i < text.size() && text[i] == '"') {  // ."quoted key"
        std::size_t end = text.find('"', i + 1);
        if (end == std::string_view::npos) return fail(bad_path(text, i, "unterminated quoted key"));
        p.segments_.emplace_back(std::string(text.substr(i + 1, end - i - 1)));
        i = end + 1;
        continue;
      }
      std::size_t start = i;
      while (i < text.size() && is_name_char(text[i])) ++i;
      if (i == start) return fail(bad_path(text, i, "expected a key name after '.'"));
      p.segments_.emplace_back(std::string(text.substr(start, i - start)));
    } else if (text[i] == '[') {
      std::size_t start = ++i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) ++i;
      if (i == start || i >= text.size() || text[i] != ']') {
        return fail(bad_path(text, start, "expected an array index such as [0]"));
      }
      std::size_t index = 0;
      if (std::from_chars(text.data() + start, text.data() + i, index).ec != std::errc()) {
        return fail(bad_path(text, start, "array index is too large"));
      }
      p.segments_.emplace_back(index);
      ++i;
    } else {
      return fail(bad_path(text, i, std::string("unexpected '") + text[i] + "'"));
    }
  }
  return p;
}

const Json* JsonPath::find(const Json& doc) const {
  const Json* cur = &doc;
  for (const auto& seg : segments_) {
    if (const auto* key = std::get_if<std::string>(&seg)) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(*key);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else {
      const std::size_t idx = std::get<std::size_t>(seg);
      if (!cur->is_array() || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    }
  }
  return cur;
}

Status JsonPath::assign(Json& doc, Json value) const {
  Json* cur = &doc;
  for (const auto& seg : segments_) {
    if (const auto* key = std::get_if<std::string>(&seg)) {
      if (cur->is_null()) *cur = Json::object();
      if (!cur->is_object()) {
        return fail(errors::validation(text_, cur->type_name(),
                                       "cannot set key '" + *key + "' inside a " + std::string(cur->type_name())));
      }
      cur = &(*cur)[*key];
    } else {
      const std::size_t idx = std::get<std::size_t>(seg);
      if (cur->is_null()) *cur = Json::array();
      if (!cur->is_array()) {
        return fail(
            errors::validation(text_, cur->type_name(),
                               "cannot index [" + std::to_string(idx) + "] into a " + std::string(cur->type_name())));
      }
      if (idx > cur->size() + kMaxPadding) {
        return fail(errors::validation(text_, idx,
                                       "index [" + std::to_string(idx) + "] is too far past the end of an array of " +
                                           std::to_string(cur->size())));
      }
      while (cur->size() <= idx) cur->push_back(nullptr);
      cur = &(*cur)[idx];
    }
  }
  *cur = std::move(value);
  return {};
}

bool JsonPath::erase(Json& doc) const {
  if (segments_.empty()) {
    const bool had = !doc.is_null();
    doc = Json::object();
    return had;
  }
  JsonPath parent;
  parent.segments_.assign(segments_.begin(), segments_.end() - 1);
  Json* owner = const_cast<Json*>(parent.find(doc));
  if (owner == nullptr) return false;
  const auto& last = segments_.back();
  if (const auto* key = std::get_if<std::string>(&last)) {
    return owner->is_object() && owner->erase(*key) > 0;
  }
  const std::size_t idx = std::get<std::size_t>(last);
  if (!owner->is_array() || idx >= owner->size()) return false;
  owner->erase(idx);
  return true;
}

}  // namespace am2z
