#include "core/json_limits.hpp"

namespace am2z {

std::size_t json_depth_violation(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}


namespace {

/// nlohmann quotes the last bytes it read, which may be anything: control bytes and bytes
/// outside ASCII become \xNN, so the message is always valid, printable UTF-8.
std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(ch);
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::expected<Json, JsonProblem> parse_outside_json(std::string_view text, const JsonLimits& limits) {
  if (limits.max_bytes != 0 && text.size() > limits.max_bytes) {
    return std::unexpected(JsonProblem{
        std::to_string(text.size()) + " bytes is more than the limit of " + std::to_string(limits.max_bytes), 0});
  }
  if (const auto at = json_depth_violation(text, limits.max_depth); at != std::string_view::npos) {
    return std::unexpected(JsonProblem{"nested deeper than " + std::to_string(limits.max_depth) + " levels", at});
  }
  JsonProblem problem;
  bool failed = false;
  // The exception-free parse is the fast path; only a text it refused is parsed again, throwing,
  // to learn why and where (nlohmann reports both only through its exceptions).
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_discarded()) return doc;
  try {
    [[maybe_unused]] const Json again = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    problem = JsonProblem{printable(what), e.byte > 0 ? e.byte - 1 : 0};
    failed = true;
  } catch (const Json::out_of_range& e) {
    std::string what = e.what();
    if (auto p = what.find("number overflow"); p != std::string::npos) what = what.substr(p);
    problem = JsonProblem{"number out of range: " + what, std::string_view::npos};
    failed = true;
  } catch (const Json::exception& e) {
    problem = JsonProblem{e.what(), std::string_view::npos};
    failed = true;
  }
  if (!failed) problem = JsonProblem{"invalid JSON", std::string_view::npos};
  return std::unexpected(std::move(problem));
}

std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t offset) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

}  // namespace am2z
