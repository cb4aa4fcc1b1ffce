#include "cli/interrupt.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <cerrno>
#include <ctime>
#include <mutex>
#include <thread>

#include "cli/exit_codes.hpp"

namespace am2z::cli {

namespace {
int g_pipe[2] = {-1, -1};
std::atomic<int> g_count{0};  // lock-free, so safe in a signal handler
std::atomic<long long> g_first_signal_ns{0};

// One interrupt can arrive twice: `timeout -s INT` (and other supervisors) signal the process and
// then its whole process group. A second signal this soon after the first is that echo, not a
// user insisting, and must not turn a clean stop into exit 130.
constexpr long long kEchoWindowNs = 300'000'000;

long long monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  return static_cast<long long>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

extern "C" void on_signal(int signo) {
  const long long now = monotonic_ns();
  // The first signal's time is set before it is counted, so that an echo handled at the same
  // moment on another thread never reads it unset.
  long long unset = 0;
  g_first_signal_ns.compare_exchange_strong(unset, now);
  if (++g_count > 1) {
    if (now - g_first_signal_ns.load() < kEchoWindowNs) return;
    _exit(kExitInterrupted);  // second Ctrl-C: the user insists
  }
  const unsigned char byte = static_cast<unsigned char>(signo);
  const ssize_t ignored = write(g_pipe[1], &byte, 1);
  (void)ignored;
}
int g_hangup_pipe[2] = {-1, -1};
std::mutex g_hangup_mutex;
std::function<void()> g_on_hangup;

extern "C" void on_hangup_signal(int) {
  const unsigned char byte = 1;
  const ssize_t ignored = write(g_hangup_pipe[1], &byte, 1);
  (void)ignored;
}
}  // namespace

void set_hangup_handler(std::function<void()> on_hangup) {
  static std::once_flag installed;
  {
    std::lock_guard lock(g_hangup_mutex);
    g_on_hangup = std::move(on_hangup);
  }
  std::call_once(installed, [] {
    if (pipe2(g_hangup_pipe, O_CLOEXEC) != 0) return;
    struct sigaction sa {};
    sa.sa_handler = on_hangup_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, nullptr);
    std::thread([] {
      for (;;) {
        unsigned char byte = 0;
        const ssize_t n = read(g_hangup_pipe[0], &byte, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        std::lock_guard lock(g_hangup_mutex);
        if (g_on_hangup) g_on_hangup();
      }
    }).detach();
  });
}

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
