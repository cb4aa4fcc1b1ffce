#include "core/state.hpp"

#include <chrono>

namespace am2z {

namespace {

/// The `n` decimal digits of `text` at `pos` (digits only: no sign, no blank).
bool read_digits(std::string_view text, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > text.size()) return false;
  int value = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

/// Writes `value` as `n` digits, zero-padded, at `out`.
void write_digits(char* out, int value, int n) {
  for (int i = n - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

}  // namespace

// Both are written by hand over std::chrono's calendar rather than gmtime/snprintf and
// sscanf/timegm: every event and every state's metadata goes through them, and the C library's
// versions were a visible share of a worker's time (locale and format-string handling).
std::string format_timestamp(SystemClock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day date{day};
  const hh_mm_ss<milliseconds> time{ms - day};
  std::string out = "0000-00-00T00:00:00.000Z";  // the clock's range (1678..2262) fits 4 digits
  write_digits(out.data(), static_cast<int>(date.year()), 4);
  write_digits(out.data() + 5, static_cast<int>(static_cast<unsigned>(date.month())), 2);
  write_digits(out.data() + 8, static_cast<int>(static_cast<unsigned>(date.day())), 2);
  write_digits(out.data() + 11, static_cast<int>(time.hours().count()), 2);
  write_digits(out.data() + 14, static_cast<int>(time.minutes().count()), 2);
  write_digits(out.data() + 17, static_cast<int>(time.seconds().count()), 2);
  write_digits(out.data() + 20, static_cast<int>(time.subseconds().count()), 3);
  return out;
}

bool parse_timestamp(std::string_view text, SystemClock::time_point& out) {
  using namespace std::chrono;
  // exactly YYYY-MM-DDTHH:MM:SS: no blanks, signs or short fields
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
      !read_digits(text, 0, 4, y) || !read_digits(text, 5, 2, mo) || !read_digits(text, 8, 2, d) ||
      !read_digits(text, 11, 2, h) || !read_digits(text, 14, 2, mi) || !read_digits(text, 17, 2, sec)) {
    return false;
  }
  int ms = 0;
  std::string_view rest = text.substr(19);
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
  // out-of-range fields (month 13, 30 February, 25:00, a leap second) make the text malformed
  const year_month_day date{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!date.ok() || h > 23 || mi > 59 || sec > 59) return false;
  const long long secs =
      static_cast<long long>(sys_days(date).time_since_epoch().count()) * 86400 + h * 3600LL + mi * 60LL + sec;
  // The clock counts nanoseconds in 64 bits (years 1678 to 2261): a time beyond would overflow.
  constexpr auto kMaxSeconds = duration_cast<seconds>(SystemClock::duration::max()).count();
  if (secs >= kMaxSeconds || secs <= -kMaxSeconds) return false;
  out = SystemClock::time_point(seconds(secs)) + milliseconds(ms);
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

std::string State::to_text() const {
  // Keys in the order to_json()'s sorted object would have them, "metadata" in its place; the
  // metadata written as dump_text(metadata_json()) would write it, without building the object
  // (a job's state is written at every step: this was about half of the time it took).
  std::string meta_text = R"({"createdAt":")";
  meta_text += format_timestamp(meta.created_at);
  meta_text += R"(","lastUpdated":")";
  meta_text += format_timestamp(meta.last_updated);
  meta_text += R"(","sessionId":)";
  meta_text += dump_text(Json(meta.session_id));
  meta_text += R"(,"version":)";
  meta_text += std::to_string(meta.version);
  meta_text += '}';
  std::string out = "{";
  bool meta_written = false;
  auto write_meta = [&] {
    if (out.size() > 1) out.push_back(',');
    out += R"("metadata":)";
    out += meta_text;
    meta_written = true;
  };
  if (data.is_object()) {
    for (const auto& [key, value] : data.items()) {
      if (key == "metadata") continue;  // to_json() overwrites it
      if (!meta_written && key > std::string_view("metadata")) write_meta();
      if (out.size() > 1) out.push_back(',');
      out += dump_text(Json(key));
      out.push_back(':');
      out += dump_text(value);
    }
  }
  if (!meta_written) write_meta();
  out.push_back('}');
  return out;
}

}  // namespace am2z
