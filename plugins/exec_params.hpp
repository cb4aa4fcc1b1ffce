#pragma once
// exec's argv and env parameters: literal text, or values taken from the state when the flow says
// so ({path: .order.id}); nothing of the state reaches the command line or environment otherwise.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_path.hpp"
#include "core/result.hpp"

namespace am2z {

/// One argv entry or env value.
struct ExecValue {
  std::string literal;
  std::optional<JsonPath> path;  ///< set: read from the state at each run

  /// The text the program gets: the literal, or the state's value (a string as is, anything else
  /// as JSON). A path missing from the state is a ValidationError for `field`.
  Result<std::string> resolve(const Json& data, std::string_view field) const;
};

/// A string (literal) or {path: .a.b}; anything else is a ValidationError naming `field`.
Result<ExecValue> read_exec_value(const Json& value, const std::string& field);

using ExecEnv = std::vector<std::pair<std::string, ExecValue>>;

/// `argv`: a non-empty list of strings or {path: ...}; argv[0] must be a non-empty string.
Result<std::vector<ExecValue>> read_exec_argv(const Json& with);
/// `env`: a map of names to strings, numbers, booleans or {path: ...}.
Result<ExecEnv> read_exec_env(const Json& with);
/// Schema of {path: ".a.b"}, the form that takes a value from the state.
Json state_value_schema();

/// A byte count of at least 1: an integer, or a string with a unit: "64MiB", "512 KiB", "1GiB"
/// (powers of 1024), "100MB", "1 GB", "500kB" (powers of 1000), "4096B".
Result<std::size_t> read_byte_size(const Json& value, const std::string& field);
/// `bytes` in the largest binary unit that divides it exactly: "64 MiB", "1500 bytes".
std::string byte_size_text(std::size_t bytes);
/// Schema of a byte-size parameter.
Json byte_size_schema(std::string_view description);

}  // namespace am2z
