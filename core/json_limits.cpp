#include "core/json_limits.hpp"

#include <algorithm>
#include <optional>

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

/// The token nlohmann quotes after "last read:" can be a whole unterminated string of megabytes.
constexpr std::size_t kMaxQuotedToken = 40;

/// Bytes from outside quoted in a message: control bytes and bytes outside ASCII become \xNN, so
/// the message is always printable, valid UTF-8 (a job with invalid UTF-8 crashed the worker
/// when its error was serialised).
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

std::string shortened(std::string token) {
  if (token.size() > kMaxQuotedToken) return printable(token.substr(0, kMaxQuotedToken)) + "...";
  return printable(token);
}

/// "parse error at line 1, column 5: ...; last read: '...'", the token shortened.
std::string parse_error_reason(const std::string& what) {
  std::string reason = what.substr(std::min(what.find("parse error"), what.size()));
  constexpr std::string_view kLastRead = "; last read: '";
  if (auto at = reason.find(kLastRead); at != std::string::npos && reason.ends_with('\'')) {
    const std::size_t token = at + kLastRead.size();
    reason = reason.substr(0, token) + shortened(reason.substr(token, reason.size() - token - 1)) + "'";
  }
  return reason;
}

/// The first error of a parse, with its byte offset.
JsonProblem problem_of(std::size_t position, const std::string& token, const nlohmann::detail::exception& e) {
  if (e.id == 406) {  // out_of_range: a number beyond a double, 1e400
    const std::size_t start = position >= token.size() ? position - token.size() : 0;
    return JsonProblem{"number out of range: " + shortened(token) + " does not fit a double", start,
                       JsonProblem::Kind::out_of_range};
  }
  return JsonProblem{parse_error_reason(e.what()), position > 0 ? position - 1 : 0};
}

/// nlohmann's DOM builder, keeping the first error with its position instead of throwing: one pass
/// gives the document or why and where it is not one (its exceptions lack the position of a
/// number out of range, and a second pass to learn the reason doubled the time on bad input).
class DomWithProblem final : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  explicit DomWithProblem(Json& result) : json_sax_dom_parser(result, /*allow_exceptions=*/false) {}

  // Shadows the base's (sax_parse calls it through this type): records instead of throwing.
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    if (!problem) problem = problem_of(position, token, e);
    return false;
  }

  std::optional<JsonProblem> problem;
};

}  // namespace

std::expected<Json, JsonProblem> parse_outside_json(std::string_view text, const JsonLimits& limits) {
  if (limits.max_bytes != 0 && text.size() > limits.max_bytes) {
    return std::unexpected(JsonProblem{
        std::to_string(text.size()) + " bytes is more than the limit of " + std::to_string(limits.max_bytes), 0,
        JsonProblem::Kind::too_big});
  }
  if (const auto at = json_depth_violation(text, limits.max_depth); at != std::string_view::npos) {
    return std::unexpected(JsonProblem{"nested deeper than " + std::to_string(limits.max_depth) + " levels", at,
                                       JsonProblem::Kind::too_deep});
  }
  Json doc;
  DomWithProblem builder(doc);
  if (Json::sax_parse(text.begin(), text.end(), &builder) && !builder.problem) return doc;
  if (!builder.problem) return std::unexpected(JsonProblem{"invalid JSON", std::string_view::npos});
  return std::unexpected(std::move(*builder.problem));
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
