#include "core/state.hpp"

#include <cstdio>
#include <ctime>

namespace am2z {

std::string format_timestamp(SystemClock::time_point t) {
  const auto ms_total = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms_total / 1000);
  int ms = static_cast<int>(ms_total % 1000);
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

bool parse_timestamp(std::string_view text, SystemClock::time_point& out) {
  std::tm tm{};
  int ms = 0;
  int consumed = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {  // exactly YYYY-MM-DDTHH:MM:SS: no blanks, signs or short fields
    return false;
  }
  std::string_view rest = text.substr(static_cast<std::size_t>(consumed));
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digits < 3) ms = ms * 10 + (rest.front() - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    if (digits == 0) return false;
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (rest != "Z") return false;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::tm fields = tm;
  const std::time_t secs = timegm(&tm);
  // timegm normalises out-of-range fields (month 13, 30 February, 25:00); such text is malformed.
  if (tm.tm_year != fields.tm_year || tm.tm_mon != fields.tm_mon || tm.tm_mday != fields.tm_mday ||
      tm.tm_hour != fields.tm_hour || tm.tm_min != fields.tm_min || tm.tm_sec != fields.tm_sec) {
    return false;
  }
  // The clock counts nanoseconds in 64 bits (years 1678 to 2261): a time beyond would overflow.
  constexpr auto kMaxSeconds = std::chrono::duration_cast<std::chrono::seconds>(SystemClock::duration::max()).count();
  if (secs >= kMaxSeconds || secs <= -kMaxSeconds) return false;
  out = SystemClock::time_point(std::chrono::seconds(secs)) + std::chrono::milliseconds(ms);
  return true;
}

State State::create(std::string session_id, Json data) {
  State s;
  s.data = std::move(data);
  s.meta.session_id = std::move(session_id);
  s.meta.created_at = s.meta.last_updated = SystemClock::now();
  return s;
}

Result<State> State::from_json(Json doc, const std::string& default_session) {
  if (!doc.is_object()) {
    return fail(errors::validation("(input)", doc.type_name(), "the input state must be a JSON object"));
  }
  State s = create(default_session);
  auto it = doc.find("metadata");
  if (it != doc.end()) {
    const Json& m = *it;
    if (!m.is_object()) return fail(errors::validation("metadata", m, "must be an object"));
    if (auto f = m.find("sessionId"); f != m.end()) {
      if (!f->is_string() || f->get_ref<const std::string&>().empty()) {
        return fail(errors::validation("metadata.sessionId", *f, "must be a non-empty string"));
      }
      if (default_session.empty()) s.meta.session_id = f->get<std::string>();
    }
    if (auto f = m.find("version"); f != m.end()) {
      if (!f->is_number_integer() || f->get<std::int64_t>() < 1) {
        return fail(errors::validation("metadata.version", *f, "must be an integer >= 1"));
      }
      s.meta.version = f->get<std::int64_t>();
    }
    for (const char* key : {"createdAt", "lastUpdated"}) {
      if (auto f = m.find(key); f != m.end()) {
        SystemClock::time_point t;
        if (!f->is_string() || !parse_timestamp(f->get_ref<const std::string&>(), t)) {
          return fail(errors::validation(std::string("metadata.") + key, *f,
                                         "must be an ISO-8601 UTC timestamp such as 2025-07-05T10:00:00.000Z"));
        }
        (key[0] == 'c' ? s.meta.created_at : s.meta.last_updated) = t;
      }
    }
    doc.erase(it);
  }
  s.data = std::move(doc);
  return s;
}

Json State::metadata_json() const {
  return Json{{"sessionId", meta.session_id},
              {"version", meta.version},
              {"createdAt", format_timestamp(meta.created_at)},
              {"lastUpdated", format_timestamp(meta.last_updated)}};
}

Json State::to_json() const {
  Json out = data.is_object() ? data : Json::object();
  out["metadata"] = metadata_json();
  return out;
}

}  // namespace am2z
