#include "plugins/step_reaper.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace am2z::detail {

namespace {

/// One message from the reaper; SOCK_SEQPACKET delivers it whole.
struct News {
  std::int32_t kind = 0;
  std::int32_t value = 0;  ///< the program's pid, posix_spawnp's errno, or the wait status
};
constexpr std::int32_t kStarted = 1;
constexpr std::int32_t kSpawnFailed = 2;
constexpr std::int32_t kExited = 3;

// Everything from here to start_reaper runs in the reaper, a fork of a multi-threaded process:
// system calls only, no allocation, no locks.

void tell(int channel, std::int32_t kind, std::int32_t value) {
  const News news{kind, value};
  while (::send(channel, &news, sizeof news, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

void close_range_or_loop(unsigned first, unsigned last) {
  if (first > last) return;
  if (::syscall(SYS_close_range, first, last, 0) == 0) return;
  for (unsigned fd = first; fd <= last && fd < 65536; ++fd) ::close(static_cast<int>(fd));
}

/// Closes every descriptor but the `count` in `keep`, so no other step's pipe or channel stays
/// open here (that would hold back its EOF).
void close_all_except(int* keep, int count) {
  for (int i = 1; i < count; ++i) {  // insertion sort of a handful of numbers
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; --j) {
      const int t = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = t;
    }
  }
  unsigned from = 0;
  for (int i = 0; i < count; ++i) {
    const auto fd = static_cast<unsigned>(keep[i]);
    if (fd > from) close_range_or_loop(from, fd - 1);
    if (fd + 1 > from) from = fd + 1;
  }
  close_range_or_loop(from, ~0U);
}

/// The reaper's children (the program, and every orphan reparented to it): up to `max` pids,
/// or -1 when /proc cannot tell.
int list_children(pid_t self, pid_t* out, int max) {
  char path[64] = "/proc/self/task/";
  int len = 16;
  char digits[16];
  int nd = 0;
  for (auto v = static_cast<unsigned>(self); nd == 0 || v != 0; v /= 10) digits[nd++] = static_cast<char>('0' + v % 10);
  while (nd > 0) path[len++] = digits[--nd];
  for (const char* s = "/children"; *s != '\0'; ++s) path[len++] = *s;
  path[len] = '\0';
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n < 0) return -1;
  // A full buffer may end inside a number: leave that one for the next pass.
  if (n == static_cast<ssize_t>(sizeof buf)) {
    while (n > 0 && buf[n - 1] != ' ') --n;
  }
  int count = 0;
  pid_t pid = 0;
  bool in_number = false;
  for (ssize_t i = 0; i < n && count < max; ++i) {
    if (buf[i] >= '0' && buf[i] <= '9') {
      pid = pid * 10 + (buf[i] - '0');
      in_number = true;
    } else if (in_number) {
      out[count++] = pid;
      pid = 0;
      in_number = false;
    }
  }
  if (in_number && count < max) out[count++] = pid;
  return count;
}

pid_t wait_for(pid_t pid, int* status, int options) {
  pid_t r;
  do {
    r = ::waitpid(pid, status, options);
  } while (r < 0 && errno == EINTR);
  return r;
}

/// Reaps orphans that died while the program runs, so they do not pile up as zombies; true when
/// the program itself has exited (it stays unreaped: its pid keeps naming its process group).
bool reap_orphans(pid_t program) {
  while (true) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return false;
    if (info.si_pid == program) return true;
    wait_for(info.si_pid, nullptr, WNOHANG);
  }
}

/// SIGTERM to the program's group and to the orphans, which left it; SIGCONT so that stopped
/// ones act on it.
void terminate_all(pid_t self, pid_t program) {
  ::kill(-program, SIGTERM);
  ::kill(-program, SIGCONT);
  pid_t kids[512];
  const int n = list_children(self, kids, 512);
  for (int i = 0; i < n; ++i) {
    if (kids[i] == program) continue;
    ::kill(kids[i], SIGTERM);
    ::kill(kids[i], SIGCONT);
  }
}

/// SIGKILLs and reaps everything below the reaper; returns the program's wait status. A process
/// only becomes our child when its parent dies, so this goes level by level until none is left.
int kill_everything(pid_t self, pid_t program) {
  ::kill(-program, SIGKILL);  // the program is unreaped, so its group id cannot name another group
  int status = SIGKILL;       // as if killed, should its status be lost
  pid_t kids[512];
  while (true) {
    const int n = list_children(self, kids, 512);
    if (n < 0) {  // no /proc: the program's group is all that can be reached
      ::kill(program, SIGKILL);
      wait_for(program, &status, 0);
      while (wait_for(-1, nullptr, WNOHANG) > 0) {
      }
      return status;
    }
    if (n == 0) return status;
    bool signalled[512];
    for (int i = 0; i < n; ++i) signalled[i] = kids[i] == program || ::kill(kids[i], SIGKILL) == 0 || errno != EPERM;
    int reaped = 0;
    for (int i = 0; i < n; ++i) {
      if (!signalled[i]) continue;
      int st = 0;
      if (wait_for(kids[i], &st, 0) == kids[i]) ++reaped;
      if (kids[i] == program) status = st;
    }
    // Only processes we may not signal (a setuid program's) are left: waiting could be forever.
    if (reaped == 0) return status;
  }
}

/// Ends the reaper without running anything of the parent's: _Fork left the sanitizers' and
/// libc's locks as other threads held them, and TSan's _exit interceptor takes its thread
/// registry lock to finalize, so the reaper hung there about one exec step in ten under TSan.
[[noreturn]] void leave_reaper() {
  ::syscall(SYS_exit_group, 0);
  __builtin_unreachable();
}

[[noreturn]] void reaper_main(const ReaperLaunch& launch, int channel) {
  // Default dispositions: am2z's handlers must not run here, and SIGCHLD must not be ignored.
  // Every signal stays blocked (the mask came blocked from the fork); SIGCHLD is read below.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(sig, &dfl, nullptr);
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  int keep[4] = {launch.stdio[0], launch.stdio[1], launch.stdio[2], channel};
  close_all_except(keep, 4);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  const int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

  pid_t program = -1;
  const int rc = ::posix_spawnp(&program, launch.program, launch.actions, launch.attr, launch.argv, launch.envp);
  for (int fd : launch.stdio) ::close(fd);  // else am2z would never see EOF on the program's output
  if (rc != 0) {
    tell(channel, kSpawnFailed, rc);
    leave_reaper();
  }
  tell(channel, kStarted, program);

  const pid_t self = ::getpid();
  while (true) {
    pollfd fds[2] = {{channel, POLLIN, 0}, {sfd, POLLIN, 0}};
    // Without a signalfd, look for exits every 10 ms.
    const int r = ::poll(fds, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 10);
    if (r < 0 && errno != EINTR) break;
    if (sfd < 0 || fds[1].revents != 0) {
      signalfd_siginfo info;
      while (sfd >= 0 && ::read(sfd, &info, sizeof info) > 0) {
      }
      if (reap_orphans(program)) break;
    }
    if (fds[0].revents != 0) {
      char order = 0;
      const ssize_t n = ::recv(channel, &order, 1, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n == 1 && order == static_cast<char>(ReaperOrder::terminate)) {
        terminate_all(self, program);
        continue;
      }
      break;  // kill, EOF (am2z is gone) or a broken channel: end it all
    }
  }
  tell(channel, kExited, kill_everything(self, program));
  leave_reaper();
}

}  // namespace

std::expected<ReaperHandle, int> start_reaper(const ReaperLaunch& launch) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) return std::unexpected(errno);
  // Blocked across the fork so that no handler of ours runs in the reaper before it resets them.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
#if defined(__SANITIZE_THREAD__)
  // Under TSan, fork(): its interceptor holds the runtime's own locks across the fork. After
  // _Fork a lock another thread held at that moment stays locked in the reaper, which then hangs
  // in its first intercepted call and its step with it (one run in twenty starting three exec
  // branches at once; CI's TSan e2e_run).
  const pid_t pid = ::fork();
#else
  // _Fork: no atfork handlers and no allocator locks, which the reaper does not need.
  const pid_t pid = ::_Fork();
#endif
  if (pid == 0) {
    ::close(ends[0]);
    reaper_main(launch, ends[1]);
  }
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::close(ends[1]);
  if (pid < 0) {
    ::close(ends[0]);
    return std::unexpected(fork_errno);
  }
  News news;
  ssize_t got;
  do {
    got = ::recv(ends[0], &news, sizeof news, 0);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof news) && news.kind == kStarted) {
    ::fcntl(ends[0], F_SETFL, ::fcntl(ends[0], F_GETFL) | O_NONBLOCK);
    return ReaperHandle{pid, static_cast<pid_t>(news.value), ends[0]};
  }
  const int err = got == static_cast<ssize_t>(sizeof news) && news.kind == kSpawnFailed ? news.value : EIO;
  ::close(ends[0]);
  wait_for(pid, nullptr, 0);
  return std::unexpected(err);
}

void send_order(int channel, ReaperOrder order) {
  const char byte = static_cast<char>(order);
  while (::send(channel, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EINTR) {
  }
}

ReaperNews read_news(int channel, int& wait_status) {
  while (true) {
    News news;
    const ssize_t got = ::recv(channel, &news, sizeof news, MSG_DONTWAIT);
    if (got == static_cast<ssize_t>(sizeof news) && news.kind == kExited) {
      wait_status = news.value;
      return ReaperNews::exited;
    }
    if (got > 0) continue;  // nothing else is sent after the start; ignore it
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return ReaperNews::nothing;
    return ReaperNews::gone;
  }
}

}  // namespace am2z::detail
