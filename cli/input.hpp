#pragma once
// The run's input: a JSON file (or stdin) plus --set path=value overrides.
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"

namespace am2z::cli {

/// Reads the input object from a regular file of at most kMaxInputBytes, or stdin for "-". Errors
/// (unreadable, too big, not JSON, not an object) name the file, line and column.
Result<Json> read_json_input(const std::string& source);
/// Applies "path=value": the value is JSON when it parses as JSON, otherwise a string.
Status apply_assignment(Json& doc, const std::string& assignment);
/// The input document: `source` (empty: {}) read, then each assignment applied in order.
Result<Json> read_input_document(const std::string& source, const std::vector<std::string>& assignments);
/// Without -i (`input_source` empty), warns when stdin holds data (a non-empty file, a pipe with
/// bytes waiting): `run < in.json` would otherwise run on {} without a word. Never reads stdin.
void warn_if_stdin_ignored(const std::string& input_source);

}  // namespace am2z::cli
