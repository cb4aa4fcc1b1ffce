#pragma once
// "Did you mean ...?" for misspelt keys, processor names and processor types.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace am2z {

/// Edit distance (insertions, deletions, substitutions, adjacent transpositions), ignoring ASCII case.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word`: edit distance <= 2 (and less than the word's length), or one is a
/// prefix of the other (at least 2 characters). Ties go to the earlier candidate; "" when none is close.
std::string suggest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace am2z
