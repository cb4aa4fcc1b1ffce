#include "cli/interrupt.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <thread>

#include "cli/exit_codes.hpp"

namespace am2z::cli {

namespace {
int g_pipe[2] = {-1, -1};
std::atomic<int> g_count{0};  // lock-free, so safe in a signal handler

extern "C" void on_signal(int signo) {
  if (++g_count > 1) _exit(kExitInterrupted);  // second Ctrl-C: the user insists
  const unsigned char byte = static_cast<unsigned char>(signo);
  const ssize_t ignored = write(g_pipe[1], &byte, 1);
  (void)ignored;
}
}  // namespace

CancelToken install_interrupt_handler() {
  static CancelSource source;
  if (pipe2(g_pipe, O_CLOEXEC) != 0) return source.token();
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::thread([] {
    unsigned char byte = 0;
    while (read(g_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    source.cancel(std::string("interrupted by ") + (byte == SIGTERM ? "SIGTERM" : "SIGINT"));
  }).detach();
  return source.token();
}

}  // namespace am2z::cli
