#pragma once
// A value of the YAML document together with its field path, and the collector of diagnostics.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "flows/diagnostic.hpp"

namespace am2z {

/// A value in the flow file, the map key it sits under (if any) and its field path.
struct Field {
  YAML::Node key;  ///< a null node for list items and the document itself
  YAML::Node value;
  std::string path;  ///< "processors.validate.timeout", "flow.chain[1]"

  /// The entry `name` of this map-valued field.
  Field child(const YAML::Node& child_key, const YAML::Node& child_value, std::string_view name) const;
  /// The `index`-th item of this list-valued field.
  Field item(const YAML::Node& item_value, std::size_t index) const;
};

/// Joins a field path and a key: ("flow", "chain") -> "flow.chain"; ("", "flow") -> "flow".
std::string join_path(std::string_view base, std::string_view name);

/// Where to point for a mistake in `field`: a scalar value itself; for a collection or an empty
/// value its key (a block collection starts on the next line, an empty value has no position).
YAML::Mark mark_of(const Field& field);

/// Collects diagnostics for one file.
class Reporter {
 public:
  explicit Reporter(std::string file) : file_(std::move(file)), files_{file_} {}

  /// A mistake in `field`, at mark_of(field).
  void error(const Field& field, std::string message);
  /// A mistake at an explicit position; a null mark means the start of the file.
  void error_at(const YAML::Mark& mark, std::string path, std::string message);
  /// A problem with the file as a whole (unreadable): line and column 0.
  void file_error(std::string message);

  /// Diagnostics so far: parsers compare counts to tell whether their part had mistakes.
  std::size_t count() const { return diagnostics_.size(); }
  /// The file label diagnostics carry.
  const std::string& file() const { return file_; }
  /// Makes later diagnostics name `file` (an included file); returns the previous label.
  std::string switch_file(std::string file);
  /// The diagnostics in file order: files as first named (the main file first), then line and
  /// column; ties keep the order they were found in.
  std::vector<Diagnostic> take();

 private:
  std::string file_;
  std::vector<std::string> files_;  ///< every label used, in order of first use
  std::vector<Diagnostic> diagnostics_;
};

/// "a map", "a list", "nothing", "'abc'" or "the quoted string '5'": the "got ..." part of messages.
std::string describe(const YAML::Node& node);

}  // namespace am2z
