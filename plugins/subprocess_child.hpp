#pragma once
// Internals shared by plugins/subprocess.cpp (checks, spawning under a reaper, the registry of
// live reapers) and plugins/subprocess_child.cpp (pumping a started program's pipes until it and
// everything it started are gone).
#include <sys/types.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <utility>

#include "plugins/step_reaper.hpp"
#include "plugins/subprocess.hpp"

namespace am2z::detail {

/// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  // Linux always releases the descriptor, even when close() reports EINTR: never retry.
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// Reapers we started and have not reaped, with their channels. Leaked on purpose:
/// kill_all_subprocesses may run during exit, after static destructors.
struct LiveReapers {
  std::mutex mutex;
  std::map<pid_t, int> channels;
  bool shutting_down = false;
};

/// The one registry (plugins/subprocess.cpp).
LiveReapers& live_reapers();

/// Pumps the started program's pipes (our ends: its stdin's write end, its stdout's and stderr's
/// read ends), enforces the deadline, the token and max_output through its reaper, and returns
/// once the reaper reports that everything is gone. Removes the reaper from live_reapers().
SubprocessResult supervise_child(const SubprocessOptions& options, ReaperHandle reaper, Fd in, Fd out, Fd err);

}  // namespace am2z::detail
