// The test fixture itself: a real server that answers, on its own port, gone afterwards.
#include "tests/support/redis_server.hpp"

#include <doctest/doctest.h>

#include "core/redis/connection.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace redis_server_test {

using namespace am2z;

TEST_CASE("the test Redis answers on a port of its own and is gone afterwards") {
  redis::Endpoint where;
  {
    testing::RedisServer server;
    where = server.endpoint();
    redis::Connection c(where, redis::ConnectOptions{});
    auto set = c.command({"SET", "k", "v"});
    REQUIRE(set);
    CHECK(set->str == "OK");
    auto get = c.command({"GET", "k"});
    REQUIRE(get);
    CHECK(get->str == "v");
  }
  redis::Connection after(where, testing::short_timeouts());
  CHECK_FALSE(after.connect());
}

// Connection writes commands in Redis's protocol itself (not with hiredis's formatting): every
// byte of an argument goes through as it is, whatever it holds and however long it is.
TEST_CASE("arguments reach Redis byte for byte: empty, binary, protocol-like and big ones") {
  testing::RedisServer server;
  redis::Connection c(server.endpoint(), redis::ConnectOptions{});
  const std::string binary("a\0b\r\n$3\r\n*2\r\n", 14);
  const std::string big(3u << 20, 'x');
  auto set = c.command({"MSET", "empty", "", "binary", binary, "big", big});
  REQUIRE(set);
  CHECK(set->str == "OK");
  // pipelined commands, as the worker sends its calls
  auto replies = c.pipeline({{"GET", "empty"}, {"GET", "binary"}, {"STRLEN", "big"}, {"ECHO", "after"}});
  REQUIRE(replies);
  REQUIRE(replies->size() == 4);
  CHECK((*replies)[0].str.empty());
  CHECK((*replies)[0].type == redis::Reply::Type::string);
  CHECK((*replies)[1].str == binary);
  CHECK((*replies)[2].integer == static_cast<long long>(big.size()));
  CHECK((*replies)[3].str == "after");
}

}  // namespace redis_server_test
