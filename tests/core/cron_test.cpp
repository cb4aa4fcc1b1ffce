#include "core/cron.hpp"

#include <doctest/doctest.h>

using namespace am2z;

namespace {
// 2026-11-30T01:02:03.456Z, a Monday
constexpr long long kMonday = 1796000523456;

long long next(const char* expr, long long after = kMonday) {
  auto c = CronSchedule::parse(expr);
  REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  return c->next_after(after);
}

std::string reason(const char* expr) {
  auto c = CronSchedule::parse(expr);
  REQUIRE_FALSE(c);
  return c.error().context.value("reason", "");
}
}  // namespace

TEST_CASE("five fields fire on whole minutes, six on seconds, always strictly later") {
  CHECK(next("* * * * *") == 1796000580000);       // 01:03:00
  CHECK(next("* * * * * *") == 1796000524000);     // 01:02:04
  CHECK(next("*/5 * * * * *") == 1796000525000);   // 01:02:05
  CHECK(next("*/5 * * * * *", 1796000525000) == 1796000530000);
  CHECK(next("0 3 * * *") == 1796007600000);   // 03:00 the same day
  CHECK(next("30 1 * * *") == 1796002200000);  // 01:30 the same day
  CHECK(next("2 1 * * *") == 1796086920000);   // 01:02 has just passed: the next day
}

TEST_CASE("months, days and weekdays, by number and by name") {
  CHECK(next("0 0 1 JAN *") == 1798761600000);  // 2027-01-01
  CHECK(next("0 0 * * SUN") == 1796515200000);  // Sunday 2026-12-06
  CHECK(next("0 0 * * 7") == next("0 0 * * 0"));
  CHECK(next("0 0 * * MON-FRI") == 1796083200000);  // Tuesday 2026-12-01
  // both day fields restricted: either matches (the 1st is a Tuesday, before Sunday the 6th)
  CHECK(next("0 0 1 * SUN") == 1796083200000);
  CHECK(next("0 12 29 2 *") == 1835438400000);  // 2028-02-29, the next leap day
  CHECK(next("0 0 30 2 *") == -1);                // never
  CHECK(next("0,30 9-10/1 * * *") == 1796029200000);  // 09:00 the same day
}

TEST_CASE("a malformed expression names its field") {
  CHECK(reason("* * * *") == "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds "
                             "first, found 4");
  CHECK(reason("61 * * * *") == "the minute field '61' has '61' outside 0-59");
  CHECK(reason("* 25 * * *") == "the hour field '25' has '25' outside 0-23");
  CHECK(reason("* * * FOO *") == "the month field 'FOO' has 'FOO', not a value");
  CHECK(reason("*/0 * * * *") == "the minute field '*/0' has a bad step '0'");
  CHECK(reason("* * 0 * *") == "the day of month field '0' has '0' outside 1-31");
  CHECK(reason("5-1 * * * *") == "the minute field '5-1' has '5-1' outside 0-59");
  CHECK(CronSchedule::parse("* * * *").error().message.find("Validation failed for field 'cron'") == 0);
}
