#pragma once
// The one way flow files become YAML trees: the text is checked first (UTF-8, one document, core
// tags only, bounded size and nesting once aliases are expanded), so that nothing after it can be
// made to exhaust memory, recurse without end or read a value yaml-cpp would misrepresent.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string_view>

#include "flows/field.hpp"

namespace am2z {

/// What a flow document may be. A YAML tree costs yaml-cpp about 500 bytes per value, and aliases
/// let a few lines denote billions of values ("billion laughs"), hence the count after expansion.
struct YamlLimits {
  std::size_t max_values = 100'000;  ///< scalars and collections, each alias counted as what it denotes
  std::size_t max_depth = 256;       ///< collections inside collections, through aliases too (yaml-cpp stops near 500)
};

/// Parses `text` as one YAML document. Every problem is reported to `reporter` at its line and
/// column, and nullopt returned: bytes that are not UTF-8 text (binary, NUL, invalid UTF-8 - shown
/// by value, never quoting the file), a second document, a tag other than YAML's core ones
/// (!!python/object, !!binary), an alias inside the value it names, too many values or too deep
/// nesting, and YAML syntax errors. An empty text is a null document.
std::optional<YAML::Node> parse_yaml_document(std::string_view text, Reporter& reporter, const YamlLimits& limits = {});

/// Byte offset and reason of the first thing in `text` that is not UTF-8 text (a control character
/// other than tab, line feed and carriage return, or an invalid UTF-8 sequence); nullopt if none.
/// A UTF-8 byte order mark at the start is fine.
struct TextProblem {
  std::size_t offset;
  std::string reason;
};
std::optional<TextProblem> text_problem(std::string_view text);

}  // namespace am2z
