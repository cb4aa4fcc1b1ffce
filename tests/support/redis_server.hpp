#pragma once
// A real redis-server for C++ tests that need Redis: started on a free port in a scratch folder,
// without persistence, killed and removed when the fixture goes away. Never a mock.
#include <sys/types.h>

#include <string>
#include <vector>

#include "core/redis/connection.hpp"
#include "core/redis/redis_url.hpp"

namespace am2z::testing {

/// Connect and command timeouts of 200 ms: a test that waits on a dead server fails fast.
inline redis::ConnectOptions short_timeouts() {
  redis::ConnectOptions o;
  o.connect_timeout = o.command_timeout = std::chrono::milliseconds(200);
  return o;
}

class RedisServer {
 public:
  /// Starts redis-server (REDIS_SERVER, else the one on PATH) and waits until it answers PING.
  /// Throws std::runtime_error naming what went wrong when it cannot.
  RedisServer() : RedisServer(std::vector<std::string>{}) {}
  /// The same with more configuration on its command line (say {"--rename-command", "FUNCTION",
  /// ""}: a server without that command).
  explicit RedisServer(const std::vector<std::string>& extra_args);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  redis::Endpoint endpoint() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

}  // namespace am2z::testing
