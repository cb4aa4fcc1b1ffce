#pragma once
// Durations ("500ms", "30s", "5m", "1h"), rates ("100/min", "5/s") and sizes ("16MiB") as written in
// flow files and on the command line.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/cancel.hpp"
#include "core/policy.hpp"
#include "core/result.hpp"

namespace am2z {

/// "250ms", "1.5s", "5m", "2h", "7d", or a plain integer meaning milliseconds.
Result<Millis> parse_duration(std::string_view text);
/// "100/min", "10/s", "5/sec", "1000/h", "3/500ms".
Result<RateLimit> parse_rate(std::string_view text);
/// Sizes: "512", "512B", "64KiB", "16MiB", "1GiB" (powers of 1024), "100kB", "100MB", "1GB"
/// (powers of 1000). A byte count that fits in 63 bits.
Result<std::size_t> parse_size(std::string_view text);
/// The shortest exact spelling: 1500ms, 30s, 5m.
std::string format_duration(Millis d);

}  // namespace am2z
