#pragma once
// Cron expressions, as BullMQ's job schedulers take them (cron-parser): five fields (minute hour
// day-of-month month day-of-week) or six with seconds first. Each field: *, N, A-B, a list
// "A,B-C", a step "*/S", "A-B/S" or "A/S"; months JAN..DEC and days SUN..SAT by name too; day 7
// is Sunday as 0. As in cron, when both day fields are restricted a day matching either runs.
// Times are UTC.

#include <array>
#include <bitset>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/result.hpp"

namespace am2z {

class CronSchedule {
 public:
  /// The expression, or a ValidationError naming the field and what is wrong.
  static Result<CronSchedule> parse(std::string_view text);

  /// The first time strictly after `after_ms` (ms since the epoch, UTC) that matches, on a whole
  /// second; -1 when none comes within five years (a day that never exists, e.g. 30 FEB).
  long long next_after(long long after_ms) const;

  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = true;      // day of month is "*"
  bool any_weekday_ = true;  // day of week is "*"
};

}  // namespace am2z
