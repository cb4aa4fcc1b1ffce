// A Redis that goes away between two writes (a restart while a worker's calls are pipelined) must
// fail the write with a network error, never kill the process with SIGPIPE: before the fix both
// workers of the AOF restart test died of it (exit -13) and their runs waited out the lock.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/redis/connection.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace lost_server_test {

using namespace am2z::redis;

namespace {

/// A listening Unix socket in a scratch directory: writing to a Unix socket whose peer is gone
/// raises SIGPIPE at the first write (a TCP socket needs a reset first), so the test is exact.
struct GoneServer {
  std::string dir;
  std::string path;
  int fd = -1;

  GoneServer() {
    char tmpl[] = "/tmp/am2z-gone-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/redis.sock";
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 4) == 0);
  }
  ~GoneServer() {
    if (fd >= 0) ::close(fd);
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
  }
  /// Takes the pending connection and closes it and the listener: the server is gone.
  void vanish() {
    const int peer = ::accept(fd, nullptr, nullptr);
    REQUIRE(peer >= 0);
    ::close(peer);
    ::close(fd);
    fd = -1;
  }
};

/// Connects to a server, makes it vanish, then writes with `write`: returns the error it met.
template <class Write>
am2z::Error write_to_a_gone_server(Write write) {
  GoneServer server;
  Endpoint ep;
  ep.unix_path = server.path;
  Connection conn(ep, ConnectOptions{});
  REQUIRE(conn.connect());
  server.vanish();
  auto written = write(conn);
  REQUIRE_FALSE(written);
  CHECK(written.error().message.find("Redis at unix://" + server.path) == 0);
  return written.error();
}

}  // namespace

TEST_CASE("a server gone between two writes fails the write with a network error, not SIGPIPE") {
  // The default action of SIGPIPE ends the process: the test only survives if none is delivered.
  struct sigaction dfl {
  }, previous{};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGPIPE, &dfl, &previous);

  // Each writing path: a pipelined send, a command, a pipeline.
  auto sent = write_to_a_gone_server([](Connection& c) { return c.send({"PING"}); });
  CHECK(sent.category == am2z::ErrorCategory::network);
  CHECK(is_transient(sent));
  auto command = write_to_a_gone_server([](Connection& c) { return c.command({"PING"}); });
  CHECK(command.category == am2z::ErrorCategory::network);
  auto pipeline = write_to_a_gone_server([](Connection& c) { return c.pipeline({{"PING"}, {"PING"}}); });
  CHECK(pipeline.category == am2z::ErrorCategory::network);

  // No SIGPIPE is left pending to be delivered later, when the mask changes.
  sigset_t pending;
  sigpending(&pending);
  CHECK_FALSE(sigismember(&pending, SIGPIPE));
  ::sigaction(SIGPIPE, &previous, nullptr);
}

}  // namespace lost_server_test
