// The test fixture itself: a real server that answers, on its own port, gone afterwards.
#include <doctest/doctest.h>

#include "core/redis/connection.hpp"
#include "tests/support/redis_server.hpp"

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
