#pragma once
// Typed reads of flow-file fields. Each reports its own mistakes and returns nullopt on any.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_path.hpp"
#include "core/policy.hpp"
#include "flows/field.hpp"

namespace am2z {

/// Any non-empty scalar, as written (a plain 2024 is the string "2024").
std::optional<std::string> read_string(Reporter& reporter, const Field& field);
/// A plain integer scalar no smaller than `min`.
std::optional<std::int64_t> read_int(Reporter& reporter, const Field& field, std::int64_t min);
/// A plain number scalar in [min, max].
std::optional<double> read_number(Reporter& reporter, const Field& field, double min, double max);
/// A duration via parse_duration ("500ms", "30s", or a plain integer of milliseconds).
std::optional<Millis> read_duration(Reporter& reporter, const Field& field);
/// A duration greater than zero: a zero timeout would fail every step at once.
std::optional<Millis> read_timeout(Reporter& reporter, const Field& field);
/// A rate via parse_rate ("100/min").
std::optional<RateLimit> read_rate(Reporter& reporter, const Field& field);
/// A JSON path such as ".order.status".
std::optional<JsonPath> read_path(Reporter& reporter, const Field& field);
/// A list's items as fields "<path>[i]"; an empty value is an empty list.
std::optional<std::vector<Field>> read_list(Reporter& reporter, const Field& field);
/// A string that must be one of `options` (reported with a suggestion otherwise).
std::optional<std::string> read_choice(Reporter& reporter, const Field& field, const std::vector<std::string>& options);

/// "a, b or c"
std::string or_list(const std::vector<std::string>& words);

/// A map field's entries by key. Duplicate and non-string keys are reported (the first entry of a
/// key counts); an empty value reads as an empty map.
class MapReader {
 public:
  /// One key and its field.
  struct Entry {
    std::string name;
    Field field;
  };

  /// Reports "expected <what>, got ..." when `field` is not a map; ok() is then false.
  MapReader(Reporter& reporter, Field field, std::string_view what = "a map");

  /// False when the field was neither a map nor empty.
  bool ok() const { return ok_; }
  /// The map field itself.
  const Field& self() const { return self_; }
  /// Entries in file order, without duplicates.
  const std::vector<Entry>& entries() const { return entries_; }
  /// The entry under `key`, or nullptr.
  const Field* get(std::string_view key) const;
  /// Like get(), but reports "missing required key '<key>'" at the map when absent.
  const Field* require(std::string_view key) const;
  /// Reports every key not in `allowed`, with a "did you mean" when one is close; false if any.
  bool check_keys(const std::vector<std::string>& allowed) const;

 private:
  Reporter& reporter_;
  Field self_;
  bool ok_ = true;
  std::vector<Entry> entries_;
};

}  // namespace am2z
