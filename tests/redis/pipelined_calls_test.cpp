// Pipelined calls (Connection::send / receive, send_script / receive_script): replies come back
// in the order the calls went out; a server that lost its scripts answers NOSCRIPT, which is a
// retryable error, and the next send loads the script again.
#include <doctest/doctest.h>

#include "core/redis/connection.hpp"
#include "core/redis/scripts.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace pipelined_calls_test {

using namespace am2z;
using namespace am2z::redis;

TEST_CASE("replies to commands sent ahead come back in order") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  REQUIRE(c.send({"SET", "k", "1"}));
  REQUIRE(c.send({"INCR", "k"}));
  REQUIRE(c.send({"GET", "k"}));
  auto set = c.receive();
  auto incr = c.receive();
  auto get = c.receive();
  REQUIRE(set);
  REQUIRE(incr);
  REQUIRE(get);
  CHECK(set->str == "OK");
  CHECK(incr->integer == 2);
  CHECK(get->str == "2");
}

TEST_CASE("receiving with nothing connected is a network error, not a crash") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  auto r = c.receive();
  REQUIRE_FALSE(r);
  CHECK(r.error().category == ErrorCategory::network);
  CHECK(r.error().message.find("Redis at") != std::string::npos);
}

TEST_CASE("a script the server lost is a retryable error, then loaded again by the next send") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  // The SHA1 cache is process-wide and earlier tests used other servers: run_script loads the
  // script on this one (the step script refuses a call without its fixed arguments).
  auto first = run_script(c, ScriptId::step, {});
  REQUIRE_FALSE(first);
  CHECK(first.error().category == ErrorCategory::execution);
  // an error from inside the script, through send/receive
  auto call = script_call(c);
  REQUIRE(send_script(c, ScriptId::step, call));
  auto refused = receive_script(c, ScriptId::step);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().category == ErrorCategory::execution);
  CHECK(refused.error().message.find("run results prefix") != std::string::npos);

  // the step function is a library: FUNCTION FLUSH (or a restart without persistence) loses it
  REQUIRE(c.command({"FUNCTION", "FLUSH"}));
  call = script_call(c);
  REQUIRE(send_script(c, ScriptId::step, call));
  auto lost = receive_script(c, ScriptId::step);
  REQUIRE_FALSE(lost);
  CHECK(lost.error().category == ErrorCategory::network);
  CHECK(lost.error().retryable);
  CHECK(lost.error().message.find("the server lost am2z's scripts (ERR Function not found)") != std::string::npos);
  CHECK(is_transient(lost.error()));

  call = script_call(c);
  REQUIRE(send_script(c, ScriptId::step, call));  // loads it again
  auto again = receive_script(c, ScriptId::step);
  REQUIRE_FALSE(again);
  CHECK(again.error().category == ErrorCategory::execution);  // the script ran this time

  // run_script loads it again by itself
  REQUIRE(c.command({"FUNCTION", "FLUSH"}));
  auto reloaded = run_script(c, ScriptId::step, {});
  REQUIRE_FALSE(reloaded);
  CHECK(reloaded.error().message.find("run results prefix") != std::string::npos);
}

TEST_CASE("a script (EVALSHA) the server lost is loaded again") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  auto first = run_script(c, ScriptId::extend_locks, {"30000"});
  REQUIRE_MESSAGE(first, first.error().message);
  REQUIRE(c.command({"SCRIPT", "FLUSH"}));
  auto call = script_call(c);
  call.push_back("30000");
  REQUIRE(send_script(c, ScriptId::extend_locks, call));
  auto lost = receive_script(c, ScriptId::extend_locks);
  REQUIRE_FALSE(lost);
  CHECK(lost.error().retryable);
  CHECK(lost.error().message.find("NOSCRIPT") != std::string::npos);
  auto again = run_script(c, ScriptId::extend_locks, {"30000"});
  CHECK_MESSAGE(again, again.error().message);
}

TEST_CASE("a server that refuses to load the step function is an error naming the script and the reason") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  REQUIRE(c.command({"ACL", "SETUSER", "nofunctions", "on", ">pw", "~*", "&*", "+@all", "-function"}));
  REQUIRE(c.command({"AUTH", "nofunctions", "pw"}));
  auto r = run_script(c, ScriptId::step, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().category == ErrorCategory::execution);
  CHECK_MESSAGE(r.error().message.find("redis script step") != std::string::npos, r.error().message);
  CHECK_MESSAGE(r.error().message.find("FUNCTION LOAD failed: NOPERM") != std::string::npos, r.error().message);
}

TEST_CASE("a Redis without FUNCTION (older than 7.0) is an error that says am2z needs 7.0 or later") {
  testing::RedisServer server({"--rename-command", "FUNCTION", ""});
  Connection c(server.endpoint(), ConnectOptions{});
  auto r = run_script(c, ScriptId::step, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().category == ErrorCategory::execution);
  CHECK_MESSAGE(r.error().message.find("redis script step") != std::string::npos, r.error().message);
  CHECK_MESSAGE(
      r.error().message.find("this Redis has no FUNCTION command: am2z needs Redis 7.0 or later") != std::string::npos,
      r.error().message);
  // the other scripts still run there (EVALSHA)
  auto other = run_script(c, ScriptId::extend_locks, {"30000"});
  CHECK_MESSAGE(other, other.error().message);
}

}  // namespace pipelined_calls_test
