// Reading the events stream (core/redis/event_stream): entries as the step script writes them,
// several events per entry, filtered by run and session, in order.
#include "core/redis/event_stream.hpp"

#include <doctest/doctest.h>

#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace event_stream_test {

using namespace am2z;
using namespace am2z::redis;

namespace {

struct Fixture {
  testing::RedisServer server;
  Connection conn{server.endpoint(), ConnectOptions{}};
  KeySpace keys;

  void add(const std::vector<std::string>& fields) {
    std::vector<std::string> argv{"XADD", keys.events(), "*"};
    argv.insert(argv.end(), fields.begin(), fields.end());
    auto r = conn.command(argv);
    REQUIRE(r);
    REQUIRE_MESSAGE(!r->is_error(), r->str);
  }

  std::vector<std::string> names(const EventFilter& filter) {
    auto batch = read_events(conn, keys, "0-0", filter, std::nullopt);
    REQUIRE(batch);
    std::vector<std::string> out;
    for (const auto& e : batch->events) out.push_back(e.value("n", std::string()));
    return out;
  }
};

}  // namespace

TEST_CASE("an entry's events are read in order, one JSON text per line, filtered by their run and session") {
  Fixture f;
  f.add({"ev", R"({"n":"1","runId":"r1","sessionId":"a"})"
               "\n"
               R"({"n":"2","runId":"r2","sessionId":"b"})"
               "\n"
               R"({"n":"3","runId":"r1","sessionId":"a"})"});
  // r10 starts like r1; the data of 6 names r1 but the event is r2's
  f.add({"ev", R"({"n":"4","runId":"r2","sessionId":"b"})"
               "\n"
               R"({"n":"5","runId":"r10","sessionId":"a"})"
               "\n"
               R"({"n":"6","data":{"runId":"r1","sessionId":"a"},"runId":"r2","sessionId":"b"})"});
  CHECK(f.names({}) == std::vector<std::string>{"1", "2", "3", "4", "5", "6"});
  CHECK(f.names({.session = "", .run = "r1"}) == std::vector<std::string>{"1", "3"});
  CHECK(f.names({.session = "b", .run = ""}) == std::vector<std::string>{"2", "4", "6"});
  CHECK(f.names({.session = "a", .run = "r2"}).empty());
  // ids that need escaping in JSON are matched on the parsed event alone
  f.add({"ev", R"({"n":"7","runId":"q\"x","sessionId":"a"})"});
  CHECK(f.names({.session = "", .run = "q\"x"}) == std::vector<std::string>{"7"});
}

TEST_CASE("entries written before 0.2 (\"run\", \"sess\", \"e\" per event) are still read") {
  Fixture f;
  f.add({"run", "r1", "sess", "a", "e", R"({"n":"1"})", "run", "r2", "sess", "b", "e", R"({"n":"2"})", "run", "r1",
         "sess", "a", "e", R"({"n":"3"})"});
  f.add({"run", "r2", "sess", "b", "e", R"({"n":"4"})"});
  CHECK(f.names({}) == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(f.names({.session = "", .run = "r1"}) == std::vector<std::string>{"1", "3"});
  CHECK(f.names({.session = "b", .run = ""}) == std::vector<std::string>{"2", "4"});
  CHECK(f.names({.session = "a", .run = "r2"}).empty());
}

TEST_CASE("an event that is not a JSON object is counted as skipped, the rest are kept") {
  Fixture f;
  f.add({"ev",
         "not json\n"
         R"({"n":"ok"})"});
  f.add({"something", "else"});
  auto batch = read_events(f.conn, f.keys, "0-0", {}, std::nullopt);
  REQUIRE(batch);
  CHECK(batch->skipped == 1);
  REQUIRE(batch->events.size() == 1);
  CHECK(batch->events[0].value("n", std::string()) == "ok");
  // the last entry read is where the next read starts, kept or not
  auto next = read_events(f.conn, f.keys, batch->last_id, {}, std::nullopt);
  REQUIRE(next);
  CHECK(next->events.empty());
}

}  // namespace event_stream_test
