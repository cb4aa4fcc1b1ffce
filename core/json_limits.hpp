#pragma once
// Limits on JSON that comes from outside (input files, program output, jobs in Redis), and the one
// parser all such JSON goes through: it never throws, never recurses past the depth limit and
// reports where the text went wrong.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <expected>

#include "core/json.hpp"

namespace am2z {

/// nlohmann::json copies, compares and prints recursively: unbounded nesting would overflow the
/// stack, so documents from outside may nest at most this deep.
inline constexpr std::size_t kMaxJsonDepth = 512;

/// Byte offset where `text` first nests deeper than `max_depth` arrays and objects (strings are
/// skipped), or std::string_view::npos when it never does. Linear, allocation-free.
std::size_t json_depth_violation(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

/// What outside JSON may be: how deep it nests and how many bytes it has (0: no size limit).
struct JsonLimits {
  std::size_t max_depth = kMaxJsonDepth;
  std::size_t max_bytes = 0;
};

/// Why a text was refused, and where: `offset` is the byte offset of the problem (npos: none).
struct JsonProblem {
  /// What kind of refusal: only `syntax` means the text is not JSON at all.
  enum class Kind { syntax, too_big, too_deep, out_of_range };

  std::string reason;  ///< "nested deeper than 512 levels", "number out of range", "parse error ..."
  std::size_t offset = std::string_view::npos;
  Kind kind = Kind::syntax;
};

/// Parses JSON from outside without throwing: too big, too deep, malformed, or holding a number
/// that does not fit a double (1e400) are all reported as a JsonProblem, never as an exception.
std::expected<Json, JsonProblem> parse_outside_json(std::string_view text, const JsonLimits& limits = {});

/// 1-based line and column of byte `offset` in `text` (for messages that name file:line:col).
std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t offset);

}  // namespace am2z
