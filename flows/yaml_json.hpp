#pragma once
// YAML values as JSON, typed by YAML 1.2 core-schema rules, remembering where each value was written.
#include <yaml-cpp/yaml.h>

#include <expected>
#include <map>
#include <string>

#include "core/json.hpp"
#include "flows/field.hpp"

namespace am2z {

/// The JSON value a YAML scalar denotes: quoted (or !!str) scalars are strings; plain ones are null
/// (~, null, empty), booleans (true/false), integers (decimal, 0x, 0o; beyond int64 a double),
/// floats (1.5, 1e3, .inf, .nan) or else strings. A number too large for a double (1e400, 400
/// digits) is an error, its reason ready for a diagnostic: it must not silently become 0 or inf.
std::expected<Json, std::string> scalar_to_json(const YAML::Node& scalar);

/// Position of each value inside a converted subtree, by sub-path: "argv[1]", "values.x". "" is the root.
using MarkIndex = std::map<std::string, YAML::Mark, std::less<>>;

/// Converts `field.value` to JSON. Map keys must be unique scalars (reported otherwise); `marks`, when
/// given, receives mark_of() of every value under its sub-path relative to `field`.
Json yaml_to_json(Reporter& reporter, const Field& field, MarkIndex* marks = nullptr);

}  // namespace am2z
