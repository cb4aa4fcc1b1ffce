#include "cli/input.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/json_limits.hpp"
#include "core/json_path.hpp"

namespace am2z::cli {

namespace {
/// A ValidationError for the input: the message reads "<source>[:line:col]: why"; the context
/// keeps the source, line and column apart for scripts.
Error input_error(const std::string& source, const std::string& why, std::size_t line = 0, std::size_t column = 0) {
  Error e = errors::validation("input", source, why);
  e.message = source;
  if (line != 0) {
    e.message += ":" + std::to_string(line) + ":" + std::to_string(column);
    e.context["line"] = line;
    e.context["column"] = column;
  }
  e.message += ": " + why;
  return e;
}

/// 1-based line and column of byte offset `pos` (nlohmann reports 1-based byte positions).
std::pair<std::size_t, std::size_t> line_col(const std::string& text, std::size_t pos) {
  std::size_t line = 1;
  std::size_t col = 1;
  for (std::size_t i = 0; i + 1 < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}
}  // namespace

Result<Json> read_json_input(const std::string& source) {
  std::string text;
  const std::string name = source == "-" ? "<stdin>" : source;
  // stdio rather than iostreams: an ifstream opens a directory, then its istreambuf_iterator throws
  // std::ios_base::failure (EISDIR) from the first read, which aborted the process.
  std::FILE* in = source == "-" ? stdin : std::fopen(source.c_str(), "rb");
  if (in == nullptr) return fail(input_error(name, std::string("cannot read input: ") + std::strerror(errno)));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> owned(source == "-" ? nullptr : in, &std::fclose);
  char buffer[65536];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, in)) > 0) text.append(buffer, n);
  if (std::ferror(in)) return fail(input_error(name, std::string("cannot read input: ") + std::strerror(errno)));
  if (const auto at = json_depth_violation(text); at != std::string::npos) {
    auto [line, col] = line_col(text, at + 1);
    return fail(
        input_error(name, "invalid JSON: nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", line, col));
  }
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    auto [line, col] = line_col(text, e.byte);
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    return fail(input_error(name, "invalid JSON: " + what, line, col));
  }
}

Status apply_assignment(Json& doc, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return fail(input_error("--set " + assignment, "expected path=value, e.g. --set .order.total=42"));
  }
  std::string path_text = assignment.substr(0, eq);
  if (path_text.front() != '.') path_text = "." + path_text;
  auto path = JsonPath::parse(path_text);
  if (!path) return fail(input_error("--set " + assignment, path.error().context.value("reason", "bad path")));
  const std::string raw = assignment.substr(eq + 1);
  Json value = json_depth_violation(raw) == std::string::npos ? Json::parse(raw, nullptr, false) : Json(raw);
  if (value.is_discarded()) value = raw;
  if (auto st = path->assign(doc, std::move(value)); !st) {
    return fail(input_error("--set " + assignment, st.error().context.value("reason", st.error().message)));
  }
  return {};
}

}  // namespace am2z::cli
