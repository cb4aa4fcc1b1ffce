#pragma once
// Reading `with:` parameters. The flow loader has already checked `with` against the type's
// params_schema (flows/params_validation.hpp), so factories only judge what a schema cannot say,
// such as the text of a duration. Every failure is a ValidationError whose field is the path
// inside `with` ("argv[1]", "env.HOME"), so the flow loader can point at the offending line.
#include <string>
#include <string_view>

#include "core/cancel.hpp"
#include "core/json.hpp"
#include "core/result.hpp"

namespace am2z::params {

/// The value of `key`, or null when `with` has no such key.
const Json* find(const Json& with, std::string_view key);
/// The string under `key`, or `fallback` when it is absent (or, unvalidated, not a string).
std::string text(const Json& with, std::string_view key, std::string fallback = "");
/// The reason of a ValidationError without its "Validation failed for field" prefix, for
/// re-reporting it under the field inside `with`.
std::string reason_of(const Error& error);
/// `value` as a duration: a string such as "500ms" or "2s", or an integer count of milliseconds.
Result<Millis> as_duration(const Json& value, std::string_view field);

/// Schema of a duration parameter, shared so every processor spells durations the same way.
Json duration_schema(std::string_view description);

}  // namespace am2z::params
