#pragma once
// Reading `with:` parameters. The flow loader has already checked `with` against the type's
// params_schema (flows/params_validation.hpp); factories built before that still check what
// they read themselves, which costs nothing and keeps them safe when called directly. Every failure is a ValidationError whose field is the path inside
// `with` ("argv[1]", "env.HOME"), so the flow loader can point at the offending line.
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/cancel.hpp"
#include "core/json.hpp"
#include "core/json_path.hpp"
#include "core/result.hpp"

namespace am2z::params {

/// Fails unless `with` is an object (or null, meaning no parameters) holding only `allowed` keys.
Status check_keys(const Json& with, std::initializer_list<std::string_view> allowed);
/// The value of `key`, or null when `with` has no such key.
const Json* find(const Json& with, std::string_view key);
/// The string under `key`, or `fallback` when it is absent (or, unvalidated, not a string).
std::string text(const Json& with, std::string_view key, std::string fallback = "");
/// A ValidationError for a missing required parameter.
Error missing(std::string_view field);
/// The reason of a ValidationError without its "Validation failed for field" prefix, for
/// re-reporting it under the field inside `with`.
std::string reason_of(const Error& error);
/// `value` as a string; `non_empty` rejects "".
Result<std::string> as_string(const Json& value, std::string_view field, bool non_empty = false);
/// `value` as a duration: a string such as "500ms" or "2s", or an integer count of milliseconds.
Result<Millis> as_duration(const Json& value, std::string_view field);
/// `value` as an integer of at least `min`.
Result<long long> as_integer(const Json& value, std::string_view field, long long min);
/// One of `choices`, by name.
Result<std::string> as_choice(const Json& value, std::string_view field, std::span<const std::string_view> choices);

/// `value` as a path into the state data: ".a.b" or "a.b"; "." (the whole data) only when
/// `allow_root`. A path into metadata is refused: the engine owns it.
Result<JsonPath> as_path(const Json& value, std::string_view field, bool allow_root);
/// `value` as a non-empty list of paths (as_path, no root).
Result<std::vector<JsonPath>> as_paths(const Json& value, std::string_view field);
/// Schema of a path parameter.
Json path_schema(std::string_view description);

/// Schema of a duration parameter, shared so every processor spells durations the same way.
Json duration_schema(std::string_view description);

}  // namespace am2z::params
