// Durations and rates as written in flow files.
#include "core/units.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace am2z;

namespace {

long long ms_of(std::string_view text) {
  auto d = parse_duration(text);
  REQUIRE_MESSAGE(d.has_value(), "'" << std::string(text) << "' should parse: " << (d ? "" : d.error().message));
  return d->count();
}

/// The reason a duration is rejected ("" when it is accepted).
std::string duration_error(std::string_view text) {
  auto d = parse_duration(text);
  if (d) return "";
  CHECK(d.error().code == "VALIDATION_FAILED");
  CHECK(d.error().context["field"] == "duration");
  CHECK(d.error().context["value"] == std::string(text));
  return d.error().context["reason"].get<std::string>();
}

RateLimit rate_of(std::string_view text) {
  auto r = parse_rate(text);
  REQUIRE_MESSAGE(r.has_value(), "'" << std::string(text) << "' should parse: " << (r ? "" : r.error().message));
  return *r;
}

std::string rate_error(std::string_view text) {
  auto r = parse_rate(text);
  if (r) return "";
  CHECK(r.error().code == "VALIDATION_FAILED");
  CHECK(r.error().context["field"] == "rate");
  return r.error().context["reason"].get<std::string>();
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("durations with every unit") {
  CHECK(ms_of("500ms") == 500);
  CHECK(ms_of("30s") == 30'000);
  CHECK(ms_of("5m") == 300'000);
  CHECK(ms_of("1h") == 3'600'000);
  CHECK(ms_of("7d") == 604'800'000);
  CHECK(ms_of("1.5s") == 1500);
  CHECK(ms_of("2sec") == 2000);
  CHECK(ms_of("2min") == 120'000);
  CHECK(ms_of("0.5m") == 30'000);
  CHECK(ms_of("250") == 250);  // a bare number is milliseconds
  CHECK(ms_of("0ms") == 0);
  CHECK(ms_of(" 10s ") == 10'000);  // surrounding blanks are tolerated
}

TEST_CASE("bad durations say why") {
  CHECK(contains(duration_error(""), "expected a number and a unit"));
  CHECK(contains(duration_error("fast"), "expected a number and a unit, e.g. 500ms, 30s, 5m, 1h"));
  CHECK(contains(duration_error("s"), "expected a number and a unit"));
  CHECK(contains(duration_error("-5s"), "expected a number and a unit"));
  CHECK(contains(duration_error("+5s"), "expected a number and a unit"));
  CHECK(duration_error("5x") == "invalid duration '5x': unknown unit 'x' (use ms, s, m, h or d)");
  CHECK(contains(duration_error("5 s"), "unknown unit ' s'"));
  CHECK(contains(duration_error("3w"), "unknown unit 'w'"));
  CHECK(contains(duration_error("10MS"), "unknown unit 'MS'"));
  CHECK(contains(duration_error("1.5ms"), "must be a whole number of milliseconds"));
  CHECK(contains(duration_error("0.0001s"), "must be a whole number of milliseconds"));
  CHECK(contains(duration_error("1e20h"), "too large"));
}

TEST_CASE("format_duration picks the shortest exact unit") {
  CHECK(format_duration(Millis(1500)) == "1500ms");
  CHECK(format_duration(Millis(30'000)) == "30s");
  CHECK(format_duration(Millis(300'000)) == "5m");
  CHECK(format_duration(Millis(3'600'000)) == "1h");
  CHECK(format_duration(Millis(5'400'000)) == "90m");
  CHECK(format_duration(Millis(0)) == "0ms");
  CHECK(format_duration(Millis(50)) == "50ms");
  for (const char* text : {"500ms", "30s", "5m", "1h", "1500ms"}) {
    CHECK(format_duration(Millis(ms_of(text))) == text);
  }
}

TEST_CASE("rates") {
  RateLimit r = rate_of("100/min");
  CHECK(r.count == 100);
  CHECK(r.per == Millis(60'000));

  r = rate_of("5/s");
  CHECK(r.count == 5);
  CHECK(r.per == Millis(1000));

  r = rate_of("3/500ms");
  CHECK(r.count == 3);
  CHECK(r.per == Millis(500));

  CHECK(rate_of("10/sec").per == Millis(1000));
  CHECK(rate_of("10/second").per == Millis(1000));
  CHECK(rate_of("10/minute").per == Millis(60'000));
  CHECK(rate_of("1000/h").per == Millis(3'600'000));
  CHECK(rate_of("1000/hour").per == Millis(3'600'000));
  CHECK(rate_of("7/2s").per == Millis(2000));
  CHECK(rate_of("7/2s").count == 7);
}

TEST_CASE("bad rates say why") {
  CHECK(contains(rate_error("100"), "expected <count>/<period>, e.g. 100/min, 10/s, 3/500ms"));
  CHECK(contains(rate_error("0/s"), "count must be an integer >= 1"));
  CHECK(contains(rate_error("-1/s"), "count must be an integer >= 1"));
  CHECK(contains(rate_error("1.5/s"), "count must be an integer >= 1"));
  CHECK(contains(rate_error("many/s"), "count must be an integer >= 1"));
  CHECK(contains(rate_error("/s"), "count must be an integer >= 1"));
  CHECK(contains(rate_error("5/"), "expected <count>/<period>"));
  CHECK(contains(rate_error("5/fortnight"), "expected <count>/<period>"));
  CHECK(contains(rate_error("5/0ms"), "expected <count>/<period>"));
  CHECK(contains(rate_error("5/-1s"), "expected <count>/<period>"));
  CHECK(rate_error("5/s") == "");
}

TEST_CASE("parse_size reads byte counts with binary units") {
  CHECK(*am2z::parse_size("512") == 512);
  CHECK(*am2z::parse_size("64KiB") == 64 * 1024);
  CHECK(*am2z::parse_size("16MiB") == 16u << 20);
  CHECK(*am2z::parse_size("16MB") == 16'000'000);
  CHECK(*am2z::parse_size("1 GiB") == 1u << 30);
  auto bad_unit = am2z::parse_size("16 parsecs");
  REQUIRE_FALSE(bad_unit);
  CHECK(bad_unit.error().message.find("unknown unit 'parsecs'") != std::string::npos);
  REQUIRE_FALSE(am2z::parse_size("1G"));
  REQUIRE_FALSE(am2z::parse_size("-1"));
  REQUIRE_FALSE(am2z::parse_size("99999999999999999999999"));
  REQUIRE_FALSE(am2z::parse_size("9999999999999GiB"));
}
