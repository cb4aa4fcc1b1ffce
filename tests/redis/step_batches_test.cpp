// The step script writes some things once per call instead of once per job (core/redis/lua/
// step_locks.lua, step_helpers.lua): the locks of a call's finishes (one MGET, one DEL), the
// outcomes pushed to one reply list (one LPUSH), the jobs made ready on one queue (one LPUSH).
// What Redis holds afterwards must be what one command per job gave.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/redis/key_space.hpp"
#include "core/redis/op_list.hpp"
#include "core/redis/scripts.hpp"
#include "tests/redis/step_call_support.hpp"
#include "tests/redis/worker_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace step_batches_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;

TEST_CASE("a call's finishes read their locks in one MGET and release them in one DEL") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  must(c, {"RPUSH", "bull:q:active", "a", "b", "c", "d"});
  for (const std::string id : {"a", "b", "c"}) must(c, {"SET", "bull:q:" + id + ":lock", "t" + id, "PX", "30000"});
  must(c, {"SET", "bull:q:d:lock", "another-worker", "PX", "900000"});
  must(c, {"CONFIG", "RESETSTAT"});
  std::vector<std::string> ops;
  for (const std::string id : {"a", "b", "d", "c"}) {
    ops.insert(ops.end(), {"G", "C", "bull:q:", id, "t" + id, "1000", "1", "{\"v\":\"" + id + "\"}", "1"});
  }
  const Reply r = step_call(c, ops, 8);
  // group 3 (job d) was refused: its lock is another worker's
  REQUIRE(r.elements[0].elements.size() == 1);
  CHECK(r.elements[0].elements[0].elements[0].integer == 3);
  CHECK(r.elements[0].elements[0].elements[1].integer == -6);
  CHECK(command_calls(c, "mget") == 1);
  CHECK(command_calls(c, "del") == 1);
  CHECK(command_calls(c, "getdel") == 0);
  CHECK(command_calls(c, "get") == 0);
  for (const std::string id : {"a", "b", "c"}) {
    CHECK(must(c, {"EXISTS", "bull:q:" + id + ":lock"}).integer == 0);
    CHECK(must(c, {"HGET", "bull:q:" + id, "returnvalue"}).str == "{\"v\":\"" + id + "\"}");
  }
  // another worker's lock is left as it was: its value and its expiry (not renewed by us)
  CHECK(must(c, {"GET", "bull:q:d:lock"}).str == "another-worker");
  CHECK(must(c, {"PTTL", "bull:q:d:lock"}).integer > 800000);
  CHECK(list_of(c, "bull:q:active") == std::vector<std::string>{"d"});
  CHECK(must(c, {"ZCARD", "bull:q:completed"}).integer == 3);
}

TEST_CASE("a lock missing, a job finished twice, and a lock taken between two fetches") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  must(c, {"RPUSH", "bull:q:active", "a", "b"});
  must(c, {"SET", "bull:q:a:lock", "ta", "PX", "30000"});
  const Reply r = step_call(c, {"G", "C", "bull:q:", "b", "tb", "1000", "1", "{}", "1",  // no lock: -2
                                "G", "C", "bull:q:", "a", "ta", "1000", "1", "{}", "1",  //
                                "G", "C", "bull:q:", "a", "ta", "1000", "1", "{}", "1"});
  REQUIRE(r.elements[0].elements.size() == 2);
  CHECK(r.elements[0].elements[0].elements[1].integer == -2);
  CHECK(r.elements[0].elements[1].elements[0].integer == 3);
  CHECK(r.elements[0].elements[1].elements[1].integer == -2);  // released by the group before it
  CHECK(must(c, {"EXISTS", "bull:q:a:lock"}).integer == 0);

  // A retried job fetched again in the same call gets a new lock, which the release before the
  // fetch must not delete.
  must(c, {"FLUSHALL"});
  must(c, {"RPUSH", "bull:q:active", "x"});
  must(c, {"HSET", "bull:q:x", "name", "s", "data", "{}", "opts", "{}", "timestamp", "1"});
  must(c, {"SET", "bull:q:x:lock", "tx", "PX", "30000"});
  const Reply again = step_call(c,
                                {"G", "R", "bull:q:", "x", "tx", "1000", "1", "boom", "[]", "0",  //
                                 "M", "bull:q:", "1", "0", "", "", "", ""},
                                8);
  CHECK(again.elements[0].elements.empty());
  const auto jobs = fetched_jobs(again);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].id == "x");
  const std::string token = jobs[0].token;
  CHECK(must(c, {"GET", "bull:q:x:lock"}).str == token);
  CHECK(list_of(c, "bull:q:active") == std::vector<std::string>{"x"});
}

TEST_CASE("outcomes for one reply list go in one LPUSH, in order, with the last ttl given") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string runs = KeySpace{}.run_results();
  must(c, {"CONFIG", "RESETSTAT"});
  std::vector<std::string> ops;
  const std::vector<std::pair<std::string, std::string>> ends{{"r1", "0"}, {"r2", "70000"}, {"r3", "0"}};
  for (const auto& [run, ttl] : ends) {
    ops.insert(ops.end(), {"G", "O", "replies", "out-" + run, ttl, runs + run, "", "completed", ""});
  }
  ops.insert(ops.end(), {"G", "O", "other", "out-r4", "0", runs + "r4", "", "completed", ""});
  step_call(c, ops, 8);
  CHECK(list_of(c, "replies") == std::vector<std::string>{"out-r3", "out-r2", "out-r1"});
  CHECK(list_of(c, "other") == std::vector<std::string>{"out-r4"});
  const long long ttl = must(c, {"PTTL", "replies"}).integer;
  CHECK(ttl > 60000);
  CHECK(ttl <= 70000);
  CHECK(must(c, {"PTTL", "other"}).integer == -1);
  // each run's own key keeps its outcome (a string: one SET with its expiry, no list per run)
  for (const std::string run : {"r1", "r2", "r3", "r4"}) {
    CHECK(must(c, {"GET", runs + run}).str == "out-" + run);
  }
  CHECK(must(c, {"PTTL", runs + "r1"}).integer > 86000000);  // no ttl given: a day, as before
  CHECK(must(c, {"PTTL", runs + "r2"}).integer <= 70000);
  CHECK(command_calls(c, "lpush") == 2);  // one per reply list
  CHECK(command_calls(c, "set") == 4);
  CHECK(command_calls(c, "pexpire") == 1);  // the reply list with a ttl

  // a run that already had an outcome gives the reply list nothing
  step_call(c, {"G", "O", "replies", "second", "0", runs + "r1", "", "completed", ""});
  CHECK(list_of(c, "replies").size() == 3);
  CHECK(must(c, {"GET", runs + "r1"}).str == "out-r1");
  // nor does a cancel, which writes to the run's own key as a list
  step_call(c, {"G", "O", runs + "r2", "cancel", "0", runs + "r2", "", "cancelled", ""});
  CHECK(must(c, {"GET", runs + "r2"}).str == "out-r2");
  // and a run cancelled first keeps that outcome: a later end writes nothing anywhere
  step_call(c, {"G", "O", runs + "r5", "cancel-r5", "0", runs + "r5", "", "cancelled", ""});
  step_call(c, {"G", "O", "replies", "out-r5", "0", runs + "r5", "", "completed", ""});
  CHECK(list_of(c, runs + "r5") == std::vector<std::string>{"cancel-r5"});
  CHECK(list_of(c, "replies").size() == 3);
}

TEST_CASE("jobs made ready in one call go to wait in one LPUSH, in order, before a fetch reads it") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  must(c, {"LPUSH", "bull:q:wait", "old"});
  must(c, {"HSET", "bull:q:old", "name", "s", "data", "{}", "opts", "{}", "timestamp", "1"});
  must(c, {"CONFIG", "RESETSTAT"});
  std::vector<std::string> ops;
  for (const std::string id : {"a", "b", "c"}) {
    ops.insert(ops.end(), {"G", "A", "bull:q:", id, "s", "{}", "{}", "w", "", "", "", "", "0", "0", "", ""});
  }
  ops.insert(ops.end(), {"M", "bull:q:", "2", "0", "", "", "", ""});  // takes the oldest two
  ops.insert(ops.end(), {"G", "A", "bull:q:", "d", "s", "{}", "{}", "w", "", "", "", "", "0", "0", "", ""});
  const Reply r = step_call(c, ops, 8);
  CHECK(fetched_ids(r) == std::vector<std::string>{"old", "a"});
  CHECK(list_of(c, "bull:q:wait") == std::vector<std::string>{"d", "c", "b"});
  CHECK(command_calls(c, "lpush") == 3);  // a-c, the fetch's two to active, then d
  CHECK(command_calls(c, "lmpop") == 1);  // the fetch's two from wait at once
  CHECK(command_calls(c, "rpoplpush") == 0);
}

TEST_CASE("a call that fails halfway leaves nothing it gathered to the next (the function outlives calls)") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  StepHeader header;
  header.now_ms = 1000;
  header.token_prefix = "t";
  header.run_results = KeySpace{}.run_results();
  auto argv = header.argv();
  // a job made ready (held back for one LPUSH at the end), then an op the function does not know
  argv.insert(argv.end(), {"G", "A", "bull:q:", "a", "s", "{}", "{}", "w", "", "", "", "", "0", "0", "", "", "X"});
  auto failed = run_script(c, ScriptId::step, argv);
  REQUIRE_FALSE(failed);
  CHECK(failed.error().category == ErrorCategory::execution);
  CHECK(int_reply(c, {"LLEN", "bull:q:wait"}) == 0);
  step_call(c, {});
  CHECK(int_reply(c, {"LLEN", "bull:q:wait"}) == 0);
  step_call(c, {"G", "A", "bull:q:", "b", "s", "{}", "{}", "w", "", "", "", "", "0", "0", "", ""});
  CHECK(list_of(c, "bull:q:wait") == std::vector<std::string>{"b"});
}

}  // namespace step_batches_test
