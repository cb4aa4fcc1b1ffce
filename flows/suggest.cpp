#include "flows/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

namespace am2z {

namespace {
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

/// Length of the common start of a and b, ignoring case.
std::size_t common_prefix_ci(std::string_view a, std::string_view b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && lower(a[n]) == lower(b[n])) ++n;
  return n;
}

bool is_prefix_ci(std::string_view shorter, std::string_view longer) {
  if (shorter.size() > longer.size()) return false;
  for (std::size_t i = 0; i < shorter.size(); ++i) {
    if (lower(shorter[i]) != lower(longer[i])) return false;
  }
  return true;
}
}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions ("chian" -> "chain" is one
  // edit), the most common typo. Three rolling rows of the dynamic programme.
  std::vector<std::size_t> before(b.size() + 1);
  std::vector<std::size_t> previous(b.size() + 1);
  std::vector<std::size_t> current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1])) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
  constexpr std::size_t kMaxDistance = 2;
  constexpr std::size_t kMinPrefix = 2;
  constexpr std::size_t kMinStem = 4;
  // Close spellings beat prefixes, which beat shared stems: rank = distance, kMaxDistance + 1 for
  // a prefix-only match, kMaxDistance + 2 for a word and a candidate that share at least their
  // first kMinStem letters and three fifths of the shorter one, differing in length by at most 3.
  std::size_t best_rank = std::numeric_limits<std::size_t>::max();
  const std::string* best = nullptr;
  for (const auto& candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    std::size_t rank = std::numeric_limits<std::size_t>::max();
    // A distance equal to the word's length would mean "replace everything": not a suggestion.
    if (distance <= kMaxDistance && distance < word.size()) {
      rank = distance;
    } else {
      const bool word_shorter = word.size() <= candidate.size();
      const std::string_view shorter = word_shorter ? word : std::string_view(candidate);
      const std::string_view longer = word_shorter ? std::string_view(candidate) : word;
      if (shorter.size() >= kMinPrefix && is_prefix_ci(shorter, longer)) {
        rank = kMaxDistance + 1;
      } else if (const std::size_t common = common_prefix_ci(word, candidate);
                 common >= kMinStem && common * 5 >= shorter.size() * 3 && longer.size() <= shorter.size() + 3) {
        // Another ending on the same stem: "retries" for "retry", "timeouts" for "timeout".
        rank = kMaxDistance + 2;
      }
    }
    if (rank < best_rank) {
      best_rank = rank;
      best = &candidate;
    }
  }
  return best ? *best : std::string();
}

}  // namespace am2z
