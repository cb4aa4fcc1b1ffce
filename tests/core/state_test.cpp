// State: creation, reading a JSON document (with or without metadata), its JSON form, timestamps.
#include "core/state.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace am2z;
using namespace std::chrono_literals;

namespace {

SystemClock::time_point at(std::chrono::sys_days day, std::chrono::milliseconds since_midnight) {
  return SystemClock::time_point(day) + since_midnight;
}

/// The field a ValidationError names.
std::string field_of(const Error& e) { return e.context.value("field", std::string("<none>")); }

}  // namespace

TEST_CASE("create starts at version 1 with both times set to now") {
  const auto before = SystemClock::now();
  const State s = State::create("sess-1", Json{{"a", 1}});
  const auto after = SystemClock::now();
  CHECK(s.data == Json{{"a", 1}});
  CHECK(s.meta.session_id == "sess-1");
  CHECK(s.meta.version == 1);
  CHECK(s.meta.created_at == s.meta.last_updated);
  CHECK(s.meta.created_at >= before);
  CHECK(s.meta.created_at <= after);
  CHECK(State::create("x").data == Json::object());
}

TEST_CASE("bump increments the version and refreshes lastUpdated only") {
  State s = State::create("s");
  s.meta.created_at = s.meta.last_updated =
      SystemClock::time_point(std::chrono::sys_days(std::chrono::year(2020) / 1 / 1));
  const auto created = s.meta.created_at;
  s.meta.bump();
  s.meta.bump();
  CHECK(s.meta.version == 3);
  CHECK(s.meta.created_at == created);
  CHECK(s.meta.last_updated > created);
}

TEST_CASE("from_json without metadata keeps the data and uses the default session") {
  auto r = State::from_json(Json{{"order", {{"id", 7}}}, {"items", {1, 2}}}, "cli-session");
  REQUIRE(r.has_value());
  CHECK(r->data == Json{{"order", {{"id", 7}}}, {"items", {1, 2}}});
  CHECK(r->meta.session_id == "cli-session");
  CHECK(r->meta.version == 1);

  auto none = State::from_json(Json::object(), "");
  REQUIRE(none.has_value());
  CHECK(none->meta.session_id.empty());  // the runner generates one later
}

TEST_CASE("from_json takes over a metadata object and removes it from the data") {
  const Json doc{{"x", 1},
                 {"metadata",
                  {{"sessionId", "from-input"},
                   {"version", 7},
                   {"createdAt", "2025-07-05T10:00:00.123Z"},
                   {"lastUpdated", "2025-07-05T11:30:15.000Z"}}}};
  auto r = State::from_json(doc, "");
  REQUIRE(r.has_value());
  CHECK(r->data == Json{{"x", 1}});
  CHECK_FALSE(r->data.contains("metadata"));
  CHECK(r->meta.session_id == "from-input");
  CHECK(r->meta.version == 7);
  using std::chrono::year;
  CHECK(r->meta.created_at == at(year(2025) / 7 / 5, 10h + 123ms));
  CHECK(r->meta.last_updated == at(year(2025) / 7 / 5, 11h + 30min + 15s));

  // The session given by the caller (e.g. --session) wins over the one in the document.
  auto overridden = State::from_json(doc, "explicit");
  REQUIRE(overridden.has_value());
  CHECK(overridden->meta.session_id == "explicit");
  CHECK(overridden->meta.version == 7);
}

TEST_CASE("from_json takes partial metadata and defaults the rest") {
  auto r = State::from_json(Json{{"metadata", {{"version", 3}}}}, "d");
  REQUIRE(r.has_value());
  CHECK(r->meta.version == 3);
  CHECK(r->meta.session_id == "d");
  CHECK(r->data == Json::object());
}

TEST_CASE("from_json rejects a non-object document") {
  for (const Json& doc : {Json::array({1, 2}), Json("text"), Json(3), Json(nullptr)}) {
    CAPTURE(doc.dump());
    auto r = State::from_json(doc, "s");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "VALIDATION_FAILED");
    CHECK(field_of(r.error()) == "(input)");
    CHECK(r.error().message.find("must be a JSON object") != std::string::npos);
  }
}

TEST_CASE("from_json reports malformed metadata naming the field") {
  struct Case {
    Json metadata;
    std::string field;
  };
  const Case cases[] = {
      {Json(5), "metadata"},
      {Json::array(), "metadata"},
      {Json{{"sessionId", 42}}, "metadata.sessionId"},
      {Json{{"sessionId", ""}}, "metadata.sessionId"},
      {Json{{"version", 0}}, "metadata.version"},
      {Json{{"version", -3}}, "metadata.version"},
      {Json{{"version", "3"}}, "metadata.version"},
      {Json{{"version", 1.5}}, "metadata.version"},
      {Json{{"createdAt", "yesterday"}}, "metadata.createdAt"},
      {Json{{"createdAt", 1720000000}}, "metadata.createdAt"},
      {Json{{"lastUpdated", "2025-07-05"}}, "metadata.lastUpdated"},
      {Json{{"lastUpdated", "2025-07-05T10:00:00.000+02:00"}}, "metadata.lastUpdated"},
      {Json{{"createdAt", "4052-11-28T18:52:48.579Z"}}, "metadata.createdAt"},  // beyond the clock's range
  };
  for (const auto& c : cases) {
    CAPTURE(c.metadata.dump());
    auto r = State::from_json(Json{{"metadata", c.metadata}, {"x", 1}}, "");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().name == "ValidationError");
    CHECK(field_of(r.error()) == c.field);
    CHECK(r.error().message.find("'" + c.field + "'") != std::string::npos);
    const Json expected_value = c.metadata.is_object() ? c.metadata.begin().value() : c.metadata;
    CHECK(r.error().context.at("value") == expected_value);
  }
}

TEST_CASE("to_json puts the metadata next to the data") {
  State s = State::create("sess", Json{{"a", 1}, {"b", {{"c", true}}}});
  s.meta.version = 5;
  s.meta.created_at = at(std::chrono::year(2025) / 1 / 2, 3h + 4min + 5s + 6ms);
  s.meta.last_updated = at(std::chrono::year(2025) / 1 / 2, 3h + 4min + 5s + 999ms);
  const Json j = s.to_json();
  CHECK(j == Json{{"a", 1},
                  {"b", {{"c", true}}},
                  {"metadata",
                   {{"sessionId", "sess"},
                    {"version", 5},
                    {"createdAt", "2025-01-02T03:04:05.006Z"},
                    {"lastUpdated", "2025-01-02T03:04:05.999Z"}}}});
  CHECK(s.metadata_json() == j["metadata"]);
  CHECK_FALSE(s.data.contains("metadata"));  // to_json does not touch the data

  auto back = State::from_json(j, "");
  REQUIRE(back.has_value());
  CHECK(back->data == s.data);
  CHECK(back->meta.session_id == "sess");
  CHECK(back->meta.version == 5);
  CHECK(back->meta.created_at == s.meta.created_at);
  CHECK(back->meta.last_updated == s.meta.last_updated);
  CHECK(back->to_json() == j);
}

TEST_CASE("to_text writes exactly dump_text(to_json()) without the copy") {
  const std::string bad_utf8 = "caf\xC3";
  const Json cases[] = {
      Json::object(),
      Json{{"a", 1}},
      Json{{"z", 1}},
      Json{{"metadat", 1}, {"metadata0", 2}, {"Metadata", 3}, {"n", nullptr}},
      Json{{"metadata", "the user's own, overwritten"}, {"x", Json::array({1, "two", 3.5})}},
      Json{{"\xC3\xA9t\xC3\xA9", "\xE2\x82\xAC"}, {"q\"uote", "line\nbreak"}, {"bad", bad_utf8}},
      Json{{"b", {{"metadata", {{"deep", true}}}, {"c", Json::array()}}}, {"a", Json::object()}},
      Json::array({1, 2}),  // not an object: to_json() treats it as empty
  };
  // the metadata is written as text too: sessions that need escaping, any version
  const std::string sessions[] = {"sess", "q\"uo\\te\nnew\tline\x01", bad_utf8, ""};
  for (const Json& data : cases) {
    for (const std::string& session : sessions) {
      for (std::int64_t version : {std::int64_t{7}, std::int64_t{-3}, std::int64_t{9007199254740993}}) {
        State s = State::create(session);
        s.data = data;
        s.meta.version = version;
        CAPTURE(data.dump(-1, ' ', false, Json::error_handler_t::replace));
        CAPTURE(version);
        CHECK(s.to_text() == dump_text(s.to_json()));
      }
    }
  }
}

TEST_CASE("format_timestamp writes ISO-8601 UTC with milliseconds") {
  CHECK(format_timestamp(SystemClock::time_point{}) == "1970-01-01T00:00:00.000Z");
  CHECK(format_timestamp(at(std::chrono::year(2025) / 7 / 5, 10h + 123ms)) == "2025-07-05T10:00:00.123Z");
  CHECK(format_timestamp(at(std::chrono::year(2024) / 2 / 29, 23h + 59min + 59s + 7ms)) == "2024-02-29T23:59:59.007Z");
  // Before the epoch the milliseconds still count forward within the second.
  CHECK(format_timestamp(SystemClock::time_point{} - 500ms) == "1969-12-31T23:59:59.500Z");
  // Sub-millisecond parts are truncated, not rounded.
  CHECK(format_timestamp(SystemClock::time_point{} + 1999us) == "1970-01-01T00:00:00.001Z");
}

TEST_CASE("parse_timestamp reads milliseconds and plain seconds") {
  SystemClock::time_point t;
  REQUIRE(parse_timestamp("2025-07-05T10:00:00.123Z", t));
  CHECK(t == at(std::chrono::year(2025) / 7 / 5, 10h + 123ms));
  REQUIRE(parse_timestamp("2025-07-05T10:00:00Z", t));
  CHECK(t == at(std::chrono::year(2025) / 7 / 5, 10h));
  REQUIRE(parse_timestamp("2025-07-05T10:00:00.5Z", t));
  CHECK(t == at(std::chrono::year(2025) / 7 / 5, 10h + 500ms));
  REQUIRE(parse_timestamp("2025-07-05T10:00:00.123456Z", t));  // extra digits are truncated
  CHECK(t == at(std::chrono::year(2025) / 7 / 5, 10h + 123ms));
  // The ends of the clock's range (nanoseconds in 64 bits) still read.
  REQUIRE(parse_timestamp("2262-04-11T00:00:00.000Z", t));
  CHECK(format_timestamp(t) == "2262-04-11T00:00:00.000Z");
  REQUIRE(parse_timestamp("1678-01-01T00:00:00.000Z", t));
  CHECK(format_timestamp(t) == "1678-01-01T00:00:00.000Z");

  // format and parse are inverse at millisecond precision.
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(SystemClock::now());
  REQUIRE(parse_timestamp(format_timestamp(now), t));
  CHECK(t == now);
}

TEST_CASE("parse_timestamp rejects malformed text and leaves the output alone") {
  const SystemClock::time_point sentinel = SystemClock::time_point{} + 42s;
  for (const char* text :
       {"", "garbage", "2025-07-05", "2025-07-05T10:00:00", "2025-07-05T10:00:00.Z", "2025-07-05T10:00:00.000",
        "2025-07-05T10:00:00.000+02:00", "2025-07-05 10:00:00Z", "2025-07-05T10:00:00.000Zjunk",
        "2025-13-01T00:00:00.000Z", "2025-02-30T00:00:00.000Z", "2025-07-05T25:00:00.000Z", "2025-07-05T10:61:00.000Z",
        "2025-7-5T1:2:3Z", " 2025-07-05T10:00:00Z", "2025-07-05T10:-1:00Z", "+025-07-05T10:00:00Z",
        "2025-07-05T10:00: 1Z", "2016-12-31T23:59:60Z", "2025-07-05T10:00:00.12a3Z",
        // beyond the clock's range (found by tests/fuzz: the conversion to nanoseconds overflowed)
        "4052-11-28T18:52:48.579Z", "2262-04-12T00:00:00Z", "1677-09-21T00:00:00Z", "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z"}) {
    const std::string shown = text;
    CAPTURE(shown);
    SystemClock::time_point t = sentinel;
    CHECK_FALSE(parse_timestamp(text, t));
    CHECK(t == sentinel);
  }
}
