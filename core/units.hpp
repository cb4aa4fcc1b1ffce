#pragma once
// Durations ("500ms", "30s", "5m", "1h") and rates ("100/min", "5/s") as written in flow files.
#include <string>
#include <string_view>

#include "core/cancel.hpp"
#include "core/policy.hpp"
#include "core/result.hpp"

namespace am2z {

/// "250ms", "1.5s", "5m", "2h", or a plain integer meaning milliseconds.
Result<Millis> parse_duration(std::string_view text);
/// "100/min", "10/s", "5/sec", "1000/h", "3/500ms".
Result<RateLimit> parse_rate(std::string_view text);
/// The shortest exact spelling: 1500ms, 30s, 5m.
std::string format_duration(Millis d);

}  // namespace am2z
