// A call's run events travel as one op "V" after its groups (core/redis/call_events.hpp): the
// groups are sent without their trailing "E"; the step script publishes every group's events
// when none was skipped, and leaves out exactly a skipped group's otherwise.
#include "core/redis/call_events.hpp"

#include <doctest/doctest.h>

#include "core/redis/key_space.hpp"
#include "core/redis/scripts.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace call_events_test {

using namespace am2z;
using namespace am2z::redis;

namespace {

/// The events the stream holds, in order, one per line.
std::string stream_text(Connection& c) {
  auto r = c.command({"XRANGE", KeySpace{}.events(), "-", "+"});
  REQUIRE(r);
  std::string out;
  for (const auto& entry : r->elements) {
    const auto& fields = entry.elements[1].elements;
    for (std::size_t x = 0; x + 1 < fields.size(); x += 2) {
      REQUIRE(fields[x].str == "ev");
      if (!out.empty()) out.push_back('\n');
      out += fields[x + 1].str;
    }
  }
  return out;
}

Reply call(Connection& c, const std::vector<OpGroup>& groups) {
  StepHeader header;
  header.now_ms = 1000;
  header.token_prefix = "t";
  header.run_results = KeySpace{}.run_results();
  auto argv = header.argv();
  append_groups(argv, groups);
  auto r = run_script(c, ScriptId::step, argv);
  REQUIRE_MESSAGE(r, r.error().message);
  return *r;
}

}  // namespace

TEST_CASE("groups go as they are, but for their trailing events, which follow them as one op") {
  const std::vector<OpGroup> groups{
      {"G", "L", "bull:q:", "a", "ta", "E", "2", "a1\na2"},
      {"G", "E", "1", "s"},              // a worker's processor:started events
      {"G", "L", "bull:q:", "b", "tb"},  // no events
      {"G", "L", "bull:q:", "c", "tc", "E", "1", "c1"},
  };
  std::vector<std::string> call{"EVALSHA", "", "1", "k"};
  append_groups(call, groups);
  const std::vector<std::string> expected{"EVALSHA",
                                          "",
                                          "1",
                                          "k",
                                          "G",
                                          "L",
                                          "bull:q:",
                                          "a",
                                          "ta",
                                          "G",
                                          "G",
                                          "L",
                                          "bull:q:",
                                          "b",
                                          "tb",
                                          "G",
                                          "L",
                                          "bull:q:",
                                          "c",
                                          "tc",
                                          "V",
                                          "4",
                                          "a1\na2\ns\nc1",
                                          "1:1:5:2;2:7:7:1;4:9:10:1;"};
  CHECK(call == expected);
  const std::string text = call[call.size() - 2];
  CHECK(text.substr(0, 5) == "a1\na2");  // 1-based, inclusive, as Lua's string.sub
  CHECK(text.substr(6, 1) == "s");
  CHECK(text.substr(8, 2) == "c1");

  // no events at all: no op
  std::vector<std::string> plain;
  append_groups(plain, std::vector<OpGroup>{{"G", "L", "bull:q:", "b", "tb"}});
  CHECK(plain == std::vector<std::string>{"G", "L", "bull:q:", "b", "tb"});
}

TEST_CASE("an \"E\" that is an argument, not an op, stays where it is") {
  // an outcome whose session is named "E": three from the end, but the outcome's argument
  const OpGroup g{"G", "O", "reply", "{}", "0", "am2z:run:r1", "E", "completed", ""};
  std::vector<std::string> call;
  append_groups(call, std::vector<OpGroup>{g});
  CHECK(call == std::vector<std::string>(g.begin(), g.end()));
}

TEST_CASE("the step script publishes every group's events, and leaves out a skipped group's") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  REQUIRE(c.connect());
  REQUIRE(c.command({"SET", "bull:q:a:lock", "ta"}));
  REQUIRE(c.command({"SET", "bull:q:c:lock", "tc"}));
  // all held: all published, in order
  call(c, {{"G", "L", "bull:q:", "a", "ta", "E", "1", "a1"},
           {"G", "E", "2", "s1\ns2"},
           {"G", "L", "bull:q:", "c", "tc", "E", "1", "c1"}});
  CHECK(stream_text(c) == "a1\ns1\ns2\nc1");

  // the worker lost b (no lock) and c (another worker's token): their groups are skipped whole
  REQUIRE(c.command({"DEL", KeySpace{}.events()}));
  REQUIRE(c.command({"SET", "bull:q:c:lock", "other"}));
  const Reply r = call(c, {{"G", "L", "bull:q:", "a", "ta", "E", "1", "a2"},
                           {"G", "L", "bull:q:", "b", "tb", "E", "2", "b1\nb2"},
                           {"G", "E", "1", "s3"},
                           {"G", "L", "bull:q:", "c", "tc", "E", "1", "c2"}});
  CHECK(stream_text(c) == "a2\ns3");
  REQUIRE(r.elements.size() >= 1);
  const auto& refused = r.elements[0].elements;  // {group, code} per skipped group
  REQUIRE(refused.size() == 2);
  CHECK(refused[0].elements[0].integer == 2);
  CHECK(refused[0].elements[1].integer == -2);  // lock missing
  CHECK(refused[1].elements[0].integer == 4);
  CHECK(refused[1].elements[1].integer == -6);  // held by another worker

  // every group skipped: nothing published, no empty entry
  REQUIRE(c.command({"DEL", KeySpace{}.events()}));
  call(c, {{"G", "L", "bull:q:", "b", "tb", "E", "1", "b3"}});
  auto len = c.command({"XLEN", KeySpace{}.events()});
  REQUIRE(len);
  CHECK(len->integer == 0);
}

}  // namespace call_events_test
