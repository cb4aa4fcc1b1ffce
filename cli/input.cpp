#include "cli/input.hpp"

#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json_limits.hpp"
#include "core/json_path.hpp"
#include "core/text_file.hpp"

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

/// "an array", "a string", "null": the JSON type of `value` as a message says it.
std::string a_type(const Json& value) {
  if (value.is_null()) return "null";
  return (value.is_array() || value.is_object() ? "an " : "a ") + std::string(value.type_name());
}

/// Byte offset of the first character that is not JSON whitespace: where a document starts.
std::size_t document_start(const std::string& text) {
  const auto at = text.find_first_not_of(" \t\r\n");
  return at == std::string::npos ? 0 : at;
}
}  // namespace

Result<Json> read_json_input(const std::string& source) {
  const bool from_stdin = source == "-";
  const std::string name = from_stdin ? "<stdin>" : source;
  // Only a regular file, a pipe or stdin, of at most kMaxInputBytes: a directory or a device such
  // as /dev/zero is refused before anything is read.
  auto text = from_stdin ? read_stream(STDIN_FILENO, kMaxInputBytes)
                         : read_text_file(source, kMaxInputBytes, FileKinds::regular_or_pipe);
  if (!text) return fail(input_error(name, (from_stdin ? "the input " : "the input file ") + text.error().reason));
  auto doc = parse_outside_json(*text);
  if (!doc) {
    const std::size_t offset = doc.error().offset == std::string::npos ? 0 : doc.error().offset;
    auto [line, col] = line_and_column(*text, offset);
    return fail(input_error(name, "invalid JSON: " + doc.error().reason, line, col));
  }
  if (!doc->is_object()) {
    auto [line, col] = line_and_column(*text, document_start(*text));
    return fail(input_error(name, "the input must be a JSON object, got " + a_type(*doc), line, col));
  }
  return std::move(*doc);
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
  // JSON when it parses as JSON, else the text as a string; but a value that is JSON apart from
  // a limit (1e400, nesting past 512 levels) is a mistake, not a string.
  Json value = raw;
  if (auto parsed = parse_outside_json(raw)) {
    value = std::move(*parsed);
  } else if (parsed.error().kind != JsonProblem::Kind::syntax) {
    return fail(input_error("--set " + assignment, "invalid value: " + parsed.error().reason));
  } else {
    // A state holds text: bytes that are not UTF-8 would reach schema checks (valijson reads
    // past a table on them) and every printer.
    try {
      (void)value.dump();
    } catch (const Json::type_error&) {
      return fail(input_error("--set " + path_text, "invalid value: not UTF-8 text"));
    }
  }
  if (auto st = path->assign(doc, std::move(value)); !st) {
    return fail(input_error("--set " + assignment, st.error().context.value("reason", st.error().message)));
  }
  return {};
}

Result<Json> read_input_document(const std::string& source, const std::vector<std::string>& assignments) {
  Json doc = Json::object();
  if (!source.empty()) {
    auto read = read_json_input(source);
    if (!read) return read;
    doc = std::move(*read);
  }
  for (const auto& a : assignments) {
    if (auto st = apply_assignment(doc, a); !st) return fail(st.error());
  }
  return doc;
}

void warn_if_stdin_ignored(const std::string& input_source) {
  if (!input_source.empty()) return;
  struct stat st {};
  if (::fstat(STDIN_FILENO, &st) != 0) return;
  bool has_data = false;
  if (S_ISREG(st.st_mode)) {
    has_data = st.st_size > 0;
  } else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
    // Only what is already waiting: a writer that has not written yet is not waited for.
    int waiting = 0;
    has_data = ::ioctl(STDIN_FILENO, FIONREAD, &waiting) == 0 && waiting > 0;
  }
  if (has_data) spdlog::warn("stdin is not read: pass -i - to use it as the input");
}

}  // namespace am2z::cli
