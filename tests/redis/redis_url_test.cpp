#include "core/redis/redis_url.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace redis_url_test {

using namespace am2z::redis;

TEST_CASE("redis URLs: host, port, database, ACL user and password") {
  auto ep = parse_url("redis://app:p%40ss@cache.internal:6380/2");
  REQUIRE(ep);
  CHECK(ep->host == "cache.internal");
  CHECK(ep->port == 6380);
  CHECK(ep->db == 2);
  CHECK(ep->user == "app");
  CHECK(ep->password == "p@ss");
  CHECK(ep->display() == "redis://app@cache.internal:6380/2");  // never the password

  auto defaults = parse_url("redis://");
  REQUIRE(defaults);
  CHECK(defaults->host == "127.0.0.1");
  CHECK(defaults->port == 6379);
  CHECK(defaults->db == 0);

  auto password_only = parse_url("redis://:secret@localhost");
  REQUIRE(password_only);
  CHECK(password_only->user.empty());
  CHECK(password_only->password == "secret");
}

TEST_CASE("redis URLs: unix sockets") {
  auto ep = parse_url("unix:///run/redis/redis.sock?db=3&password=x");
  REQUIRE(ep);
  CHECK(ep->unix_path == "/run/redis/redis.sock");
  CHECK(ep->db == 3);
  CHECK(ep->password == "x");
  CHECK(ep->display() == "unix:///run/redis/redis.sock?db=3");
}

TEST_CASE("redis URLs: every mistake is named") {
  auto check = [](const char* url, const char* expected) {
    auto ep = parse_url(url);
    REQUIRE_FALSE(ep);
    CHECK(ep.error().message.find(expected) != std::string::npos);
    CHECK(ep.error().message.find(std::string("invalid Redis URL '") + url + "'") == 0);
  };
  check("http://localhost", "it must start with redis:// or unix://");
  check("redis://host:0", "the port must be 1-65535, found '0'");
  check("redis://host:abc", "the port must be 1-65535, found 'abc'");
  check("redis://host/zero", "the database must be a number, found 'zero'");
  check("unix://relative.sock", "needs an absolute path");
  check("unix:///s.sock?tls=1", "unknown parameter 'tls=1'");
  check("rediss://host", "TLS (rediss://) is not supported");
}

TEST_CASE("redis endpoint from the environment: REDIS_URL first, then the original's variables") {
  setenv("REDIS_URL", "redis://a:1/1", 1);
  auto ep = endpoint_from_env();
  REQUIRE(ep);
  CHECK(ep->host == "a");
  unsetenv("REDIS_URL");
  setenv("REDIS_HOST", "b", 1);
  setenv("REDIS_PORT", "7000", 1);
  setenv("REDIS_PASSWORD", "pw", 1);
  ep = endpoint_from_env();
  REQUIRE(ep);
  CHECK(ep->host == "b");
  CHECK(ep->port == 7000);
  CHECK(ep->password == "pw");
  setenv("REDIS_PORT", "seventy", 1);
  ep = endpoint_from_env();
  REQUIRE_FALSE(ep);
  CHECK(ep.error().message.find("REDIS_PORT") != std::string::npos);
  unsetenv("REDIS_HOST");
  unsetenv("REDIS_PORT");
  unsetenv("REDIS_PASSWORD");
}

}  // namespace redis_url_test
