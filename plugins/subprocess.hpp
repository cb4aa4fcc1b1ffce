#pragma once
// Running a program without a shell, in its own process group under a reaper of its own (see
// plugins/step_reaper.hpp), with stdin written and stdout/stderr read concurrently, bounded by a
// deadline and a cancellation token. When run_subprocess returns, the program and every process
// it started are gone, whether it succeeded, failed, timed out or was cancelled.
#include <cstddef>
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cancel.hpp"
#include "plugins/output_buffer.hpp"

namespace am2z {

/// What to run and how to bound it.
struct SubprocessOptions {
  std::vector<std::string> argv;  ///< argv[0] is searched in the parent's PATH when it has no '/'
  std::vector<std::pair<std::string, std::string>> env;  ///< added to, and overriding, the inherited environment
  std::string cwd;                                       ///< empty: the parent's working directory
  std::string input;                                     ///< written to stdin, which is then closed
  Deadline deadline = kNoDeadline;
  const CancelToken* cancel = nullptr;  ///< null: not cancellable
  Millis kill_grace{2000};              ///< SIGTERM to SIGKILL delay when the deadline passes or the token fires
  std::size_t stderr_tail = 4096;       ///< bytes of stderr kept (the last ones)
  std::size_t max_output = 0;           ///< stdout bytes beyond which the program is stopped; 0 = no limit
  /// When set, sees each stderr line (without its newline) as it arrives, on the calling thread;
  /// a line it returns true for is consumed and left out of err_tail.
  std::function<bool(std::string_view line)> on_stderr_line;
};

/// Why a program could not be started.
enum class SpawnErrorKind { not_found, not_executable, bad_cwd, shutting_down, other };

/// A failure to start the program; nothing ran.
struct SpawnError {
  SpawnErrorKind kind = SpawnErrorKind::other;
  int error_number = 0;  ///< errno of the failed call, 0 when not from a system call
  std::string message;   ///< "'foo': not found", "'x.sh': not executable", ...
};

/// How a started program ended and what it wrote.
struct SubprocessResult {
  int exit_code = -1;             ///< -1 when it was ended by a signal
  int term_signal = 0;            ///< the signal that ended it, 0 when it exited
  bool killed = false;            ///< we stopped it because of the deadline, the token or max_output
  bool timed_out = false;         ///< the deadline passed while it ran
  bool cancelled = false;         ///< the token fired while it ran
  bool output_too_large = false;  ///< stdout passed max_output: the program was stopped
  OutputBuffer out;               ///< all of stdout (emptied when it passed max_output)
  std::string err_tail;           ///< the last SubprocessOptions::stderr_tail bytes of stderr

  /// Exited by itself with status 0.
  bool succeeded() const { return !killed && term_signal == 0 && exit_code == 0; }
};

/// Runs a program to completion. Thread-safe; blocks the calling thread.
std::expected<SubprocessResult, SpawnError> run_subprocess(const SubprocessOptions& options);

/// Has every running program killed with everything it started, without waiting, and makes later
/// spawns fail with SpawnErrorKind::shutting_down. For exit paths (Ctrl-C, global timeout); not
/// async-signal-safe.
void kill_all_subprocesses();

/// Programs currently running, counting until everything they started is gone (for diagnostics
/// and tests).
std::size_t live_subprocess_count();

/// "not found", "not executable", ... for messages.
std::string_view to_string(SpawnErrorKind kind);

}  // namespace am2z
