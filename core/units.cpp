#include "core/units.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace am2z {

namespace {
Error bad(std::string_view what, std::string_view text, const std::string& why) {
  return errors::validation(std::string(what), std::string(text), why);
}

/// Milliseconds in one unit, or 0 when the unit is unknown.
double unit_ms(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s" || unit == "sec") return 1000;
  if (unit == "m" || unit == "min") return 60'000;
  if (unit == "h") return 3'600'000;
  if (unit == "d") return 86'400'000;
  return 0;
}
}  // namespace

Result<Millis> parse_duration(std::string_view text) {
  const std::string_view original = text;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || text.empty() || text.front() == '-' || text.front() == '+') {
    return fail(
        bad("duration", original,
            "invalid duration '" + std::string(original) + "': expected a number and a unit, e.g. 500ms, 30s, 5m, 1h"));
  }
  const std::string_view unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
  const double per = unit.empty() ? 1 : unit_ms(unit);
  if (per == 0) {
    return fail(bad("duration", original,
                    "invalid duration '" + std::string(original) + "': unknown unit '" + std::string(unit) +
                        "' (use ms, s, m, h or d)"));
  }
  const double ms = value * per;
  if (!std::isfinite(ms) || ms > 1e12) {
    return fail(bad("duration", original, "invalid duration '" + std::string(original) + "': too large"));
  }
  if (ms != std::floor(ms)) {
    return fail(bad("duration", original,
                    "invalid duration '" + std::string(original) + "': must be a whole number of milliseconds"));
  }
  return Millis(static_cast<long long>(ms));
}

Result<RateLimit> parse_rate(std::string_view text) {
  const auto slash = text.find('/');
  const std::string why =
      "invalid rate '" + std::string(text) + "': expected <count>/<period>, e.g. 100/min, 10/s, 3/500ms";
  if (slash == std::string_view::npos) return fail(bad("rate", text, why));
  int count = 0;
  const std::string_view head = text.substr(0, slash);
  auto [ptr, ec] = std::from_chars(head.data(), head.data() + head.size(), count);
  if (ec != std::errc() || ptr != head.data() + head.size() || count < 1) {
    return fail(bad("rate", text, why + " (count must be an integer >= 1)"));
  }
  std::string_view period = text.substr(slash + 1);
  RateLimit r;
  r.count = count;
  if (const double per = unit_ms(period); per != 0) {
    r.per = Millis(static_cast<long long>(per));
  } else if (period == "second") {
    r.per = Millis(1000);
  } else if (period == "minute") {
    r.per = Millis(60'000);
  } else if (period == "hour") {
    r.per = Millis(3'600'000);
  } else {
    auto d = parse_duration(period);
    if (!d || d->count() <= 0) return fail(bad("rate", text, why));
    r.per = *d;
  }
  return r;
}

std::string format_duration(Millis d) {
  const long long ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

Result<std::size_t> parse_size(std::string_view text) {
  const std::string_view original = text;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  const auto invalid = [&](const std::string& why) {
    return fail(bad("size", original, "invalid size '" + std::string(original) + "': " + why));
  };
  unsigned long long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return invalid("too large");
  if (ec != std::errc() || text.empty()) return invalid("expected a number of bytes and a unit, e.g. 512KiB, 64MiB, 100MB");
  std::string_view unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
  if (unit.starts_with(' ')) unit.remove_prefix(1);
  struct Unit {
    std::string_view name;
    unsigned long long factor;
  };
  // IEC units are powers of 1024, SI units powers of 1000, as they are spelled.
  static constexpr Unit kUnits[] = {{"", 1},         {"B", 1},           {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20},
                                    {"GiB", 1ULL << 30}, {"kB", 1000},    {"KB", 1000},        {"MB", 1000'000},
                                    {"GB", 1000'000'000}};
  unsigned long long factor = 0;
  for (const Unit& u : kUnits) {
    if (unit == u.name) factor = u.factor;
  }
  if (factor == 0) return invalid("unknown unit '" + std::string(unit) + "' (use B, KiB, MiB, GiB, kB, MB or GB)");
  if (value > static_cast<unsigned long long>(INT64_MAX) / factor) return invalid("too large");
  return static_cast<std::size_t>(value * factor);
}

}  // namespace am2z
