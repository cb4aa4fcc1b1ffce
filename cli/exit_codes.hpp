#pragma once
// Every exit code the binary uses, in one place (documented in README).

namespace am2z::cli {

inline constexpr int kExitSuccess = 0;        ///< the flow succeeded / the files are valid
inline constexpr int kExitFailure = 1;        ///< the flow failed; error JSON on stderr
inline constexpr int kExitUsage = 2;          ///< bad command line
inline constexpr int kExitInvalid = 3;        ///< invalid flow file or input
inline constexpr int kExitUnreachable = 4;    ///< Redis cannot be reached (or refused us) at start
inline constexpr int kExitTimeout = 124;      ///< the run (or the step that ended it) timed out
inline constexpr int kExitInterrupted = 130;  ///< Ctrl-C / SIGTERM cancelled the run

}  // namespace am2z::cli
