#pragma once
// One mistake found in a flow file, located precisely enough for an editor to jump to it.
#include <string>

#include "core/json.hpp"

namespace am2z {

/// A problem in a flow file: where it is (1-based line and column, 0 when unknown), which field, what is wrong.
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;  ///< field path such as "processors.validate.timeout"; empty for file-level problems
  std::string message;
  /// Every problem found today stops the flow from loading; the field is there for CI annotations
  /// (GitHub's ::error, GitLab's code quality) and for warnings to come.
  std::string severity = "error";

  /// "file:line:col: path: message" (the path part is omitted when empty; line:col when 0).
  std::string to_string() const;
  /// {file, line, column, path, message, severity}
  Json to_json() const;
};

}  // namespace am2z
