#include "core/merge.hpp"

#include <algorithm>

namespace am2z {

namespace {

bool starts_with(const Json& arr, const Json& prefix) {
  if (arr.size() < prefix.size()) return false;
  return std::equal(prefix.begin(), prefix.end(), arr.begin());
}

/// Folds one branch's changes (relative to `base`) into `acc`.
void deep_merge(Json& acc, const Json& base, Json&& out) {
  if (base.is_object() && out.is_object() && acc.is_object()) {
    for (auto& [key, value] : out.items()) {
      auto b = base.find(key);
      auto a = acc.find(key);
      if (b == base.end()) {  // a key this branch added
        if (a == acc.end()) {
          acc[key] = std::move(value);
        } else if (a->is_object() && value.is_object()) {
          deep_merge(*a, Json::object(), std::move(value));
        } else if (a->is_array() && value.is_array()) {
          for (auto& item : value) a->push_back(std::move(item));
        } else {
          *a = std::move(value);
        }
        continue;
      }
      if (*b == value) continue;  // untouched by this branch
      if (a == acc.end()) {
        acc[key] = std::move(value);
      } else {
        deep_merge(*a, *b, std::move(value));
      }
    }
    for (const auto& [key, value] : base.items()) {
      if (!out.contains(key)) acc.erase(key);  // this branch removed it
    }
    return;
  }
  if (base.is_array() && out.is_array() && acc.is_array() && starts_with(out, base) && starts_with(acc, base)) {
    for (std::size_t i = base.size(); i < out.size(); ++i) acc.push_back(std::move(out[i]));
    return;
  }
  if (out != base) acc = std::move(out);
}

void shallow_merge(Json& acc, const Json& base, Json&& out) {
  if (!out.is_object() || !acc.is_object() || !base.is_object()) {
    acc = std::move(out);
    return;
  }
  for (auto& [key, value] : out.items()) {
    auto b = base.find(key);
    if (b != base.end() && *b == value) continue;
    acc[key] = std::move(value);
  }
  for (const auto& [key, value] : base.items()) {
    if (!out.contains(key)) acc.erase(key);
  }
}

}  // namespace

std::optional<MergeStrategy> parse_merge_strategy(std::string_view text) {
  if (text == "deep") return MergeStrategy::deep;
  if (text == "shallow") return MergeStrategy::shallow;
  if (text == "last-wins") return MergeStrategy::last_wins;
  return std::nullopt;
}

std::string_view to_string(MergeStrategy s) {
  switch (s) {
    case MergeStrategy::deep:
      return "deep";
    case MergeStrategy::shallow:
      return "shallow";
    case MergeStrategy::last_wins:
      return "last-wins";
  }
  return "deep";
}

Json merge_branches(const Json& base, std::vector<Json>& outputs, MergeStrategy strategy) {
  if (outputs.empty()) return base;
  if (strategy == MergeStrategy::last_wins) return std::move(outputs.back());
  Json acc = base;
  for (auto& out : outputs) {
    if (strategy == MergeStrategy::deep) {
      deep_merge(acc, base, std::move(out));
    } else {
      shallow_merge(acc, base, std::move(out));
    }
  }
  return acc;
}

}  // namespace am2z
