#include "core/cron.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <optional>
#include <vector>

namespace am2z {

namespace {

struct FieldSpec {
  const char* name;
  int lo;
  int hi;
  const char* const* names;  // names for lo, lo + 1, ... (nullptr: numbers only)
};

constexpr const char* kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDays[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

std::vector<std::string_view> split(std::string_view s, char by) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = s.find(by, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::optional<int> value_of(std::string_view word, const FieldSpec& f) {
  int v = 0;
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
  if (ec == std::errc() && end == word.data() + word.size()) return v;
  if (f.names && word.size() == 3) {
    std::string upper(word);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (int i = 0; i <= f.hi - f.lo && i < 12; ++i) {
      if (upper == f.names[i]) return f.lo + i;
    }
  }
  return std::nullopt;
}

/// Sets the bits of one field; an error text when it is malformed.
std::optional<std::string> parse_field(std::string_view text, const FieldSpec& f, std::vector<bool>& bits) {
  if (text.empty()) return std::string("is empty");
  for (std::string_view part : split(text, ',')) {
    std::string_view range = part;
    int step = 1;
    if (const auto slash = part.find('/'); slash != std::string_view::npos) {
      range = part.substr(0, slash);
      const auto s = value_of(part.substr(slash + 1), FieldSpec{f.name, 0, 0, nullptr});
      if (!s || *s < 1) return "has a bad step '" + std::string(part.substr(slash + 1)) + "'";
      step = *s;
    }
    int lo = f.lo, hi = f.hi;
    if (range != "*" && range != "?") {
      const auto dash = range.find('-');
      const auto a = value_of(range.substr(0, dash), f);
      if (!a) return "has '" + std::string(range.substr(0, dash)) + "', not a value";
      lo = *a;
      if (dash != std::string_view::npos) {
        const auto b = value_of(range.substr(dash + 1), f);
        if (!b) return "has '" + std::string(range.substr(dash + 1)) + "', not a value";
        hi = *b;
      } else if (part.find('/') == std::string_view::npos) {
        hi = lo;  // "N": one value; "N/S": from N to the end
      }
    }
    if (lo < f.lo || hi > f.hi || lo > hi) {
      return "has '" + std::string(part) + "' outside " + std::to_string(f.lo) + "-" + std::to_string(f.hi);
    }
    for (int v = lo; v <= hi; v += step) bits[static_cast<std::size_t>(v)] = true;
  }
  return std::nullopt;
}

template <std::size_t N>
void copy_bits(const std::vector<bool>& from, std::bitset<N>& to) {
  for (std::size_t i = 0; i < N && i < from.size(); ++i) to[i] = from[i];
}

long long to_epoch_seconds(std::tm tm) { return static_cast<long long>(timegm(&tm)); }

}  // namespace

Result<CronSchedule> CronSchedule::parse(std::string_view text) {
  std::vector<std::string_view> fields;
  for (std::string_view w : split(text, ' ')) {
    if (!w.empty()) fields.push_back(w);
  }
  const auto bad = [&](std::string reason) {
    return fail(errors::validation("cron", std::string(text), std::move(reason)));
  };
  if (fields.size() != 5 && fields.size() != 6) {
    return bad("expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, found " +
               std::to_string(fields.size()));
  }
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  static const FieldSpec specs[] = {{"second", 0, 59, nullptr}, {"minute", 0, 59, nullptr}, {"hour", 0, 23, nullptr},
                                    {"day of month", 1, 31, nullptr}, {"month", 1, 12, kMonths},
                                    {"day of week", 0, 7, kDays}};
  CronSchedule c;
  c.text_ = std::string(text);
  for (std::size_t i = 0; i < 6; ++i) {
    std::vector<bool> bits(64, false);
    if (auto error = parse_field(fields[i], specs[i], bits)) {
      return bad(std::string("the ") + specs[i].name + " field '" + std::string(fields[i]) + "' " + *error);
    }
    switch (i) {
      case 0: copy_bits(bits, c.seconds_); break;
      case 1: copy_bits(bits, c.minutes_); break;
      case 2: copy_bits(bits, c.hours_); break;
      case 3:
        copy_bits(bits, c.days_);
        c.any_day_ = fields[i] == "*" || fields[i] == "?";
        break;
      case 4: copy_bits(bits, c.months_); break;
      default:
        if (bits[7]) bits[0] = true;  // 7 is Sunday too
        copy_bits(bits, c.weekdays_);
        c.any_weekday_ = fields[i] == "*" || fields[i] == "?";
    }
  }
  return c;
}

long long CronSchedule::next_after(long long after_ms) const {
  // Field by field from the largest: a mismatch moves to the start of the next unit, so the
  // search takes at most a few thousand steps for five years.
  long long t = after_ms / 1000 + 1;  // whole seconds, strictly later
  if (after_ms < 0) t = 0;
  const long long limit = t + 5LL * 366 * 24 * 3600;
  while (t < limit) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    if (!months_[static_cast<std::size_t>(tm.tm_mon + 1)]) {
      tm.tm_mon += 1;
      tm.tm_mday = 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = to_epoch_seconds(tm);
      continue;
    }
    const bool day_ok = days_[static_cast<std::size_t>(tm.tm_mday)];
    const bool weekday_ok = weekdays_[static_cast<std::size_t>(tm.tm_wday)];
    const bool day_matches = any_day_ && any_weekday_ ? true
                             : any_day_               ? weekday_ok
                             : any_weekday_           ? day_ok
                                                      : (day_ok || weekday_ok);
    if (!day_matches) {
      tm.tm_mday += 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = to_epoch_seconds(tm);
      continue;
    }
    if (!hours_[static_cast<std::size_t>(tm.tm_hour)]) {
      tm.tm_hour += 1;
      tm.tm_min = tm.tm_sec = 0;
      t = to_epoch_seconds(tm);
      continue;
    }
    if (!minutes_[static_cast<std::size_t>(tm.tm_min)]) {
      tm.tm_min += 1;
      tm.tm_sec = 0;
      t = to_epoch_seconds(tm);
      continue;
    }
    if (!seconds_[static_cast<std::size_t>(tm.tm_sec)]) {
      t += 1;
      continue;
    }
    return t * 1000;
  }
  return -1;
}

}  // namespace am2z
