#pragma once
// Which names a flow may give to itself, its processors, sub-flows and nodes.
#include <optional>
#include <string>
#include <string_view>

namespace am2z {

/// Names become queue names on Redis later (where ':' is a key separator) and appear in logs,
/// events and file names, so they are kept to [A-Za-z0-9][A-Za-z0-9._-]*, at most 128 characters.
/// Returns why `name` is not acceptable, or nothing when it is.
std::optional<std::string> name_problem(std::string_view name);

}  // namespace am2z
