#pragma once
// Limits on JSON that comes from outside (input files, program output).
#include <cstddef>
#include <string_view>

namespace am2z {

/// nlohmann::json copies, compares and prints recursively: unbounded nesting would overflow the
/// stack, so documents from outside may nest at most this deep.
inline constexpr std::size_t kMaxJsonDepth = 512;

/// Byte offset where `text` first nests deeper than `max_depth` arrays and objects (strings are
/// skipped), or std::string_view::npos when it never does. Linear, allocation-free.
std::size_t json_depth_violation(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

}  // namespace am2z
