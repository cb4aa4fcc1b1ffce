#pragma once
// Every program a step runs is started by a small reaper process of its own, so that nothing the
// program starts can outlive the step, even a daemon that left the process group with setsid():
//
//   am2z (many threads) --fork--> reaper (PR_SET_CHILD_SUBREAPER) --posix_spawn--> program --> ...
//
// Orphans below the reaper are reparented to it, not to init, so it can always find them in
// /proc/self/task/<pid>/children. When the program exits, or am2z says "kill", or am2z goes away
// (the channel reaches EOF), the reaper SIGKILLs the program's group and then every process left
// below it, level by level, reaps them all, reports the program's wait status and exits. One
// reaper per step is what tells the orphans of concurrent steps apart; a subreaper am2z could not.
//
// The reaper is a fork of a multi-threaded process: it runs only async-signal-safe system calls
// on data prepared before the fork. It costs one fork (page tables, not pages) per step.
#include <spawn.h>
#include <sys/types.h>

#include <expected>

namespace am2z::detail {

/// What the reaper runs, prepared before the fork: nothing is allocated after it.
struct ReaperLaunch {
  const char* program = nullptr;  ///< searched in PATH when it has no '/' (posix_spawnp)
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const posix_spawn_file_actions_t* actions = nullptr;
  const posix_spawnattr_t* attr = nullptr;
  int stdio[3] = {-1, -1, -1};  ///< the program's ends of its stdin, stdout and stderr pipes
};

/// A started reaper: its pid (our child) and the channel to talk to it.
struct ReaperHandle {
  pid_t reaper = -1;
  pid_t program = -1;
  int channel = -1;  ///< ours to close; nonblocking SOCK_SEQPACKET, close-on-exec
};

/// Forks the reaper and waits until it has started the program. On failure, returns the errno of
/// the failed fork or posix_spawnp (ENOENT, EACCES, ...); nothing is left running then.
std::expected<ReaperHandle, int> start_reaper(const ReaperLaunch& launch);

/// Orders to a reaper; one byte each on the channel.
enum class ReaperOrder : char {
  terminate = 'T',  ///< SIGTERM (and SIGCONT) to the program's group and to the orphans
  kill = 'K',       ///< SIGKILL to everything below the reaper, then report and exit
};

/// Sends an order; never raises SIGPIPE, never blocks. Safe from any thread.
void send_order(int channel, ReaperOrder order);

/// What a reaper said on its channel.
enum class ReaperNews { nothing, exited, gone };

/// Reads what the reaper said: `exited` sets `wait_status` (the program's, as from waitpid),
/// `gone` means the reaper is gone without saying it (killed from outside).
ReaperNews read_news(int channel, int& wait_status);

}  // namespace am2z::detail
