#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "core/redis/connection.hpp"

namespace am2z::testing {

namespace {

/// A port nobody listens on now: bind to port 0 and read what the kernel chose.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("could not find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

RedisServer::RedisServer(const std::vector<std::string>& extra_args) {
  char tmpl[] = "/tmp/am2z-redis-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  const char* bin = std::getenv("REDIS_SERVER");
  const std::string program = bin != nullptr && *bin != '\0' ? bin : "redis-server";
  // A port taken between free_port() and redis-server's bind: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    const std::string port = std::to_string(port_);
    std::vector<std::string> args{program,        "--port", port,    "--bind", "127.0.0.1", "--save",           "",
                                  "--appendonly", "no",     "--dir", dir_,     "--logfile", dir_ + "/redis.log"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::execvp(program.c_str(), argv.data());
      std::_Exit(127);
    }
    redis::Connection c(endpoint(), short_timeouts());
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) break;  // exited: port taken or no binary
      if (auto r = c.command({"PING"}); r && r->str == "PONG") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::filesystem::remove_all(dir_);
  throw std::runtime_error("could not start " + program + " (is redis-server installed?)");
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

redis::Endpoint RedisServer::endpoint() const {
  redis::Endpoint e;
  e.host = "127.0.0.1";
  e.port = port_;
  return e;
}

}  // namespace am2z::testing
