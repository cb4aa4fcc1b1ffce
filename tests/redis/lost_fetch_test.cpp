// A step-script call whose reply was lost may have fetched jobs the worker never saw: op "U"
// (sent again after the reconnect) puts back in wait the jobs still locked with that call's
// token prefix, and only those (core/redis/lua/step.lua, Worker::Impl::take_back). Also how a
// fetch takes a round of jobs at once (skipping the steps of runs that already ended, never before
// a job was added), and how a call counts its runs' ends per session.
#include <doctest/doctest.h>

#include "core/redis/key_space.hpp"
#include "core/redis/op_list.hpp"
#include "core/redis/scripts.hpp"
#include "tests/redis/step_call_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace lost_fetch_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;

namespace {}  // namespace

TEST_CASE("a lost call's fetched jobs go back to wait; jobs locked by other calls or workers stay") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string q = "bull:f.s:";
  const std::vector<std::pair<std::string, std::string>> held{
      {"mine1", "w:7:0"}, {"mine2", "w:7:1"}, {"later", "w:70:0"}, {"other", "v:7:0"}};
  for (const auto& [id, token] : held) {
    must(c, {"HSET", q + id, "name", "s", "data", "{}", "opts", "{}"});
    must(c, {"LPUSH", q + "active", id});
    must(c, {"SET", q + id + ":lock", token, "PX", "30000"});
  }
  must(c, {"LPUSH", q + "wait", "queued"});
  auto r = step_call(c, {"G", "U", q, "w:7"});
  CHECK(r.elements[0].elements.empty());
  CHECK(list_of(c, q + "active") == std::vector<std::string>{"other", "later"});
  // at the front of the line (the end workers take from), before what already waited
  CHECK(list_of(c, q + "wait") == std::vector<std::string>{"queued", "mine2", "mine1"});
  for (const char* id : {"mine1", "mine2"}) {
    auto lock = c.command({"EXISTS", q + id + ":lock"});
    REQUIRE(lock);
    CHECK(lock->integer == 0);
  }
  auto marker = c.command({"ZCARD", q + "marker"});
  REQUIRE(marker);
  CHECK(marker->integer == 1);  // a worker is woken for them
  // Sent again (its reply lost too): nothing more moves.
  step_call(c, {"G", "U", q, "w:7"});
  CHECK(list_of(c, q + "wait") == std::vector<std::string>{"queued", "mine2", "mine1"});
}

TEST_CASE("a fetch takes a round from wait at once, in the order one RPOPLPUSH per job would") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string q = "bull:f.s:";
  for (int x = 1; x <= 12; ++x) {
    const std::string id = "j" + std::to_string(x);
    must(c, {"HSET", q + id, "name", "s", "data", "{}", "opts", "{}"});
    must(c, {"LPUSH", q + "wait", id});  // j1 waited longest: it is at the end workers take from
  }
  must(c, {"LPUSH", q + "active", "older"});
  // six of them (the budget), first come first taken; the rest stay, in order
  auto r = step_call(c, {"M", q, "10", "0", "", "", "", ""}, 6);
  std::vector<std::string> fetched = fetched_ids(r);
  CHECK(fetched == std::vector<std::string>{"j1", "j2", "j3", "j4", "j5", "j6"});
  CHECK(list_of(c, q + "active") == std::vector<std::string>{"j6", "j5", "j4", "j3", "j2", "j1", "older"});
  CHECK(list_of(c, q + "wait") == std::vector<std::string>{"j12", "j11", "j10", "j9", "j8", "j7"});
  // more asked than wait holds: what there is, in order, and wait is gone
  r = step_call(c, {"M", q, "10", "0", "", "", "", ""}, 10);
  fetched = fetched_ids(r);
  CHECK(fetched == std::vector<std::string>{"j7", "j8", "j9", "j10", "j11", "j12"});
  CHECK(list_of(c, q + "wait").empty());
  CHECK(list_of(c, q + "active") ==
        std::vector<std::string>{"j12", "j11", "j10", "j9", "j8", "j7", "j6", "j5", "j4", "j3", "j2", "j1", "older"});
}

TEST_CASE("runs of a session ending in one call are counted together, as if one by one") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const KeySpace keys;
  const std::string sk = keys.session("S");
  for (const char* run : {"r1", "r2", "r3"}) step_call(c, {"G", "N", "S", run, "60000", "bull:f.s:\n"});
  // two completed and one failed, in one call: all counted, and the session idle once the last ends
  step_call(c, {"G", "O", keys.run_result("r1"), "{}", "0", keys.run_result("r1"), "S", "completed", "",
                "G", "O", keys.run_result("r2"), "{}", "0", keys.run_result("r2"), "S", "failed",    "",
                "G", "O", keys.run_result("r3"), "{}", "0", keys.run_result("r3"), "S", "completed", ""});
  auto counts = c.command({"HMGET", sk, "runs", "completed", "failed", "cancelled"});
  REQUIRE(counts);
  CHECK(counts->elements[0].str == "3");
  CHECK(counts->elements[1].str == "2");
  CHECK(counts->elements[2].str == "1");
  CHECK(counts->elements[3].is_nil());
  auto ttl = c.command({"PTTL", sk});
  REQUIRE(ttl);
  CHECK(ttl->integer > 0);  // idle: its expiry is armed
  // an outcome already there (the run ended before) counts nothing again
  step_call(c, {"G", "O", keys.run_result("r1"), "{}", "0", keys.run_result("r1"), "S", "completed", ""});
  counts = c.command({"HGET", sk, "completed"});
  REQUIRE(counts);
  CHECK(counts->str == "2");
  // a run joining in the call where the last one ends: the session is running again, kept
  step_call(c, {"G", "N", "S", "r4", "60000", "bull:f.s:\n"});
  step_call(c, {"G", "O", keys.run_result("r4"), "{}", "0", keys.run_result("r4"), "S", "cancelled", "", "G", "N", "S",
                "r5", "60000", "bull:f.s:\n"});
  ttl = c.command({"PTTL", sk});
  REQUIRE(ttl);
  CHECK(ttl->integer == -1);
  counts = c.command({"HMGET", sk, "runs", "cancelled"});
  REQUIRE(counts);
  CHECK(counts->elements[0].str == "5");
  CHECK(counts->elements[1].str == "1");
}

TEST_CASE("a fetch takes a round from prioritized at once, lowest score first, keeping the virtual time") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string q = "bull:f.s:";
  std::vector<std::string> zadd{"ZADD", q + "prioritized"};
  for (int x = 1; x <= 8; ++x) {
    const std::string id = "t" + std::to_string(x);
    must(c, {"HSET", q + id, "name", "s", "data", "{}", "opts", "{}"});
    zadd.push_back(std::to_string(x));  // fair tags 1..8
    zadd.push_back(id);
  }
  must(c, {"HSET", q + "p", "name", "s", "data", "{}", "opts", "{}"});
  zadd.push_back("4294967297");  // a BullMQ priority 1: after every fairly queued job
  zadd.push_back("p");
  must(c, zadd);
  auto r = step_call(c, {"M", q, "10", "0", "", "", "", ""}, 6);
  std::vector<std::string> fetched = fetched_ids(r);
  CHECK(fetched == std::vector<std::string>{"t1", "t2", "t3", "t4", "t5", "t6"});
  CHECK(list_of(c, q + "active") == std::vector<std::string>{"t6", "t5", "t4", "t3", "t2", "t1"});
  auto vt = c.command({"HGET", q + "am2z:fair", ""});
  REQUIRE(vt);
  CHECK(vt->str == "6");  // the last tag taken
  // the rest, the priority job last; the virtual time stays that of the last fair tag, then goes
  // with the set once it ran dry
  r = step_call(c, {"M", q, "10", "0", "", "", "", ""}, 10);
  fetched = fetched_ids(r);
  CHECK(fetched == std::vector<std::string>{"t7", "t8", "p"});
  auto fair = c.command({"EXISTS", q + "am2z:fair"});
  REQUIRE(fair);
  CHECK(fair->integer == 0);
}

TEST_CASE("a round holding steps of ended and of running runs fails the first unrun and takes the others") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const KeySpace keys;
  const std::string q = "bull:f.s:";
  // six steps of six runs; runs b and e already have their outcome (retried from Bull Board, say)
  for (const char* name : {"a", "b", "c", "d", "e", "f"}) {
    const std::string id = std::string("r") + name + ".n.0";
    must(c, {"HSET", q + id, "name", "s", "data", "{}", "opts", "{}"});
    must(c, {"LPUSH", q + "wait", id});
  }
  for (const char* ended : {"b", "e"}) must(c, {"LPUSH", keys.run_result(ended), "{\"ok\":true}"});
  auto r = step_call(c, {"M", q, "10", "0", "", "", "", ""}, 4);
  std::vector<std::string> fetched = fetched_ids(r);
  // the budget (4) counts steps that run: the ended runs' steps do not use it up
  CHECK(fetched == std::vector<std::string>{"ra.n.0", "rc.n.0", "rd.n.0", "rf.n.0"});
  auto failed = c.command({"ZRANGE", q + "failed", "0", "-1"});
  REQUIRE(failed);
  REQUIRE(failed->elements.size() == 2);
  CHECK(failed->elements[0].str == "rb.n.0");
  CHECK(failed->elements[1].str == "re.n.0");
  auto reason = c.command({"HGET", q + "rb.n.0", "failedReason"});
  REQUIRE(reason);
  CHECK(reason->str.find("run b already ended") != std::string::npos);
  CHECK(list_of(c, q + "active") == std::vector<std::string>{"rf.n.0", "rd.n.0", "rc.n.0", "ra.n.0"});
  for (const char* id : {"rb.n.0", "re.n.0"}) {
    auto lock = c.command({"EXISTS", q + id + ":lock"});
    REQUIRE(lock);
    CHECK(lock->integer == 0);  // never taken: no lock, not active
  }
  CHECK(list_of(c, q + "wait").empty());
}

TEST_CASE("a job added after the fetching call was built is not taken before it was added") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string q = "bull:f.s:";
  // the call says 1000 (its worker's clock when it was built); one job was added at 1003 while
  // the call waited behind another, one at 900
  must(c, {"HSET", q + "late", "name", "s", "data", "{}", "opts", "{}", "timestamp", "1003"});
  must(c, {"HSET", q + "early", "name", "s", "data", "{}", "opts", "{}", "timestamp", "900"});
  must(c, {"LPUSH", q + "wait", "late", "early"});
  step_call(c, {"M", q, "2", "0", "", "", "", ""}, 2);
  auto early = c.command({"HGET", q + "early", "processedOn"});
  auto late = c.command({"HGET", q + "late", "processedOn"});
  REQUIRE(early);
  REQUIRE(late);
  CHECK(early->str == "1000");
  CHECK(late->str == "1003");
}

}  // namespace lost_fetch_test
