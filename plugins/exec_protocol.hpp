#pragma once
// What an exec program may say besides its new state: a typed error and custom events.
//   typed error: exit with kTypedErrorExit and print {"error": {"code", "message", "retryable",
//                "category", "details"}} on stdout;
//   events:      stderr lines "::am2z-event {"event": "name", "data": {...}}", as they happen.
#include <optional>
#include <string>
#include <string_view>

#include "core/json.hpp"

namespace am2z {

/// The exit code with which a program reports a typed error on stdout.
inline constexpr int kTypedErrorExit = 3;
/// The prefix of a stderr line that carries an event.
inline constexpr std::string_view kEventPrefix = "::am2z-event ";

/// The object under "error" when `out` is {"error": {...}} (nothing else), else nullopt.
std::optional<Json> reported_error(std::string_view out);

/// One event line's content.
struct ExecEvent {
  std::string name;
  Json data;
};

/// Parses what follows kEventPrefix; nullopt unless it is {"event": "<name>", "data"?: any}.
std::optional<ExecEvent> parse_event(std::string_view text);

}  // namespace am2z
