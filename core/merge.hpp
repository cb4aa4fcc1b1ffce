#pragma once
// How the outputs of parallel branches combine into one state.
#include <optional>
#include <string_view>
#include <vector>

#include "core/json.hpp"

namespace am2z {

enum class MergeStrategy {
  deep,       ///< objects merged recursively; array additions of every branch kept in order
  shallow,    ///< top-level keys a branch changed are taken, later branches win
  last_wins,  ///< the last branch's output
};

std::optional<MergeStrategy> parse_merge_strategy(std::string_view text);
std::string_view to_string(MergeStrategy s);

/// Combines branch outputs (declaration order) that all started from `base`.
Json merge_branches(const Json& base, std::vector<Json>& outputs, MergeStrategy strategy);

}  // namespace am2z
