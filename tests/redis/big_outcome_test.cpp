// A run whose final state is megabytes (a big batch's results): the state must not travel twice
// in one step-function call, as the last finish's returnvalue and in the run's outcome, since
// every value handed to the function is hashed byte by byte by Redis's Lua and written again by
// each command (one call of 15 ms for a 3 MB state). The outcome goes ahead in a call of its own
// behind the finish's ownership check (op_chunks.hpp), calls stop at kBigCallBytes, and the
// completed event leaves out a value over 1 MiB (the job's returnvalue holds it).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/redis/op_chunks.hpp"
#include "tests/redis/step_call_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace big_outcome_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;

namespace {

const std::string kQ = "bull:f.join:";
const std::string kRun = "am2z:run:r1";

/// The last finish of run r1 (job j1, locked with `token`) with its outcome, as the planner
/// builds it: the finish, the run's events, the outcome.
OpGroup last_finish(const std::string& state, const std::string& token = "tok") {
  return {"G",         "C",   kQ,
          "j1",        token, "1000",
          "1",         state, "1",
          "E",         "1",   "{\"event\":\"flow:completed\"}",
          "O",         kRun,  "{\"ok\":true,\"run\":\"r1\",\"state\":" + state + "}",
          "0",         kRun,  "",
          "completed", ""};
}

std::string big_state(std::size_t bytes) { return "{\"xs\":\"" + std::string(bytes, 'x') + "\"}"; }

std::size_t count_op(const OpGroup& g, const std::string& op) { return std::count(g.begin(), g.end(), op); }

void hold(Connection& c, const std::string& token) {
  must(c, {"HSET", kQ + "j1", "name", "join", "data", "{}", "opts", "{}"});
  must(c, {"DEL", kQ + "active"});
  must(c, {"LPUSH", kQ + "active", "j1"});
  must(c, {"SET", kQ + "j1:lock", token});
}

Reply send(Connection& c, const OpGroup& g) { return step_call(c, std::vector<std::string>(g.begin(), g.end())); }

}  // namespace

TEST_CASE("an outcome over kValueChunkBytes goes ahead of its finish, behind the finish's ownership check") {
  const std::string state = big_state(kValueChunkBytes);
  auto parts = chunk_group(last_finish(state));
  REQUIRE(parts.size() == 2);
  CHECK(std::vector<std::string>(parts[0].begin(), parts[0].begin() + 6) ==
        std::vector<std::string>{"G", "L", kQ, "j1", "tok", "O"});
  CHECK(parts[0].size() == 6 + 7);  // the check and the outcome, nothing else
  CHECK(parts[1][0] == "G");
  CHECK(parts[1][1] == "C");
  CHECK(count_op(parts[1], "O") == 0);
  CHECK(count_op(parts[1], "E") == 1);  // the run's events stay with the finish
  // one call each: the outcome ahead goes alone (so it can be staged)
  CHECK(groups_per_call(parts) == 1);
  CHECK(groups_per_call(std::span<const OpGroup>(parts).subspan(1)) == 1);

  // a small state stays in one group; small groups share a call
  const OpGroup small = last_finish("{\"x\":1}");
  auto same = chunk_group(small);
  REQUIRE(same.size() == 1);
  CHECK(same.front() == small);
  const std::vector<OpGroup> smalls(5, small);
  CHECK(groups_per_call(smalls) == 5);
  // an outcome written with no finish (a cancel, a submitter's give-up) has no check to go behind
  const OpGroup cancel{"G", "O",  kRun, "{\"ok\":false,\"error\":\"" + std::string(kValueChunkBytes, 'e') + "\"}",
                       "0", kRun, "",   "cancelled",
                       ""};
  CHECK(chunk_group(cancel).size() == 1);
}

TEST_CASE("the outcome sent ahead: one outcome, the job completed after it, the event without the big value") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string state = big_state(kBigCallBytes + 10);  // over the event's 1 MiB
  hold(c, "tok");
  auto parts = chunk_group(last_finish(state));
  REQUIRE(parts.size() == 2);
  CHECK(send(c, parts[0]).elements[0].elements.empty());
  CHECK(list_of(c, kRun).size() == 1);  // the run has its outcome: whoever waits has it now
  CHECK(must(c, {"ZSCORE", kQ + "completed", "j1"}).is_nil());
  send(c, parts[0]);  // sent again (a reply lost): still one outcome
  CHECK(list_of(c, kRun).size() == 1);
  CHECK(send(c, parts[1]).elements[0].elements.empty());
  CHECK(must(c, {"ZSCORE", kQ + "completed", "j1"}).str == "1000");
  CHECK(must(c, {"HGET", kQ + "j1", "returnvalue"}).str == state);
  auto events = must(c, {"XRANGE", kQ + "events", "-", "+"});
  REQUIRE(events.elements.size() == 1);
  const auto& fields = events.elements[0].elements[1].elements;
  REQUIRE(fields.size() == 8);
  CHECK(fields[1].str == "completed");
  CHECK(fields[4].str == "returnvalue");
  CHECK(fields[5].str ==
        "{\"am2zOmitted\":{\"bytes\":" + std::to_string(state.size()) + ",\"readFrom\":\"returnvalue\"}}");
}

TEST_CASE("a worker that lost the job writes no outcome ahead; a value of 1 MiB or less stays in the event") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  hold(c, "another-worker");
  auto parts = chunk_group(last_finish(big_state(kValueChunkBytes)));
  REQUIRE(parts.size() == 2);
  auto refused = send(c, parts[0]);
  REQUIRE(refused.elements[0].elements.size() == 1);
  CHECK(refused.elements[0].elements[0].elements[1].integer == -6);
  CHECK(must(c, {"EXISTS", kRun}).integer == 0);

  hold(c, "tok");
  const std::string state = "{\"xs\":\"" + std::string(1048576 - 9, 'x') + "\"}";  // 1 MiB exactly
  REQUIRE(state.size() == 1048576);
  send(c, last_finish(state));
  auto events = must(c, {"XRANGE", kQ + "events", "-", "+"});
  REQUIRE(events.elements.size() == 1);
  CHECK(events.elements[0].elements[1].elements[5].str == state);
}

TEST_CASE("a worker that dies between its outcome and its finish: the next owner's finish adds no second outcome") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string state = big_state(kValueChunkBytes + 10);
  hold(c, "tok");
  auto first = chunk_group(last_finish(state, "tok"));
  REQUIRE(first.size() == 2);
  send(c, first[0]);  // the outcome lands, then the worker is killed
  const auto outcome = list_of(c, kRun);
  REQUIRE(outcome.size() == 1);
  hold(c, "tok2");                // stalled-job recovery gave the job to another worker, which runs it again
  auto late = send(c, first[1]);  // the dead worker's finish, sent late, is refused
  REQUIRE(late.elements[0].elements.size() == 1);
  CHECK(late.elements[0].elements[0].elements[1].integer == -6);
  const std::string again = big_state(kValueChunkBytes + 20);  // its state may differ: the first stays
  for (const auto& part : chunk_group(last_finish(again, "tok2"))) CHECK(send(c, part).elements[0].elements.empty());
  CHECK(list_of(c, kRun) == outcome);
  CHECK(must(c, {"ZSCORE", kQ + "completed", "j1"}).str == "1000");
  CHECK(must(c, {"EXISTS", kQ + "j1:lock"}).integer == 0);
}

}  // namespace big_outcome_test
