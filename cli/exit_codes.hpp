#pragma once
// Every exit code the binary uses, in one place (documented in README), and the one map from a
// run's error to its exit code.
#include "core/error.hpp"

namespace am2z::cli {

inline constexpr int kExitSuccess = 0;        ///< the flow succeeded / the files are valid
inline constexpr int kExitFailure = 1;        ///< the flow failed; error JSON on stderr
inline constexpr int kExitUsage = 2;          ///< bad command line
inline constexpr int kExitInvalid = 3;        ///< invalid flow file or input
inline constexpr int kExitUnreachable = 4;    ///< Redis cannot be reached (or refused us) at start
inline constexpr int kExitPending = 5;        ///< `am2z result`: the run has no outcome (yet)
inline constexpr int kExitNoWorker = 6;       ///< `run --redis --require-worker`: no live worker serves a queue
inline constexpr int kExitTimeout = 124;      ///< the run (or the step that ended it) timed out
inline constexpr int kExitInterrupted = 130;  ///< Ctrl-C / SIGTERM cancelled the run

/// Exit code of a run that ended with `e`, local or distributed: an error inside a run is a
/// failure whatever its category (3 is for input refused before the run), except these two.
inline int exit_code_for(const Error& e) {
  if (e.category == ErrorCategory::cancelled) return kExitInterrupted;
  if (e.category == ErrorCategory::timeout) return kExitTimeout;
  return kExitFailure;
}

}  // namespace am2z::cli
