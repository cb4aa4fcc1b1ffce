#pragma once
// Where Redis is: parsed from redis://[user:password@]host:port/db, unix:///path?db=N, or the
// environment (REDIS_URL, else the original's REDIS_HOST / REDIS_PORT / REDIS_PASSWORD / REDIS_DB).
#include <string>

#include "core/result.hpp"

namespace am2z::redis {

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_path;  ///< set: connect over this Unix socket instead of TCP
  std::string user;       ///< ACL user; empty: AUTH with the password alone
  std::string password;
  int db = 0;
  /// A key in the hash slot of the deployment's keys (KeySpace::slot_key()); empty: none. On a
  /// Redis Cluster, connections go to the node that owns that slot and scripts declare the key,
  /// so Redis routes them there (core/redis/connection.cpp).
  std::string slot_key;

  /// For messages: the address without the password.
  std::string display() const;
};

/// Parses a Redis URL. Errors are ConfigurationErrors naming the part that is wrong.
Result<Endpoint> parse_url(const std::string& url);

/// REDIS_URL if set, else REDIS_HOST / REDIS_PORT / REDIS_PASSWORD / REDIS_DB, else 127.0.0.1:6379.
Result<Endpoint> endpoint_from_env();

}  // namespace am2z::redis
