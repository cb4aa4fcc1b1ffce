#pragma once
// A run's progress on stderr: steps done (local runs), batch items done of those started, items
// per second and the time left. On a terminal one line redrawn in place (log lines are written above
// it, never through it); otherwise an info log line every AM2Z_PROGRESS_INTERVAL (default 10s).
// Nothing when the log level hides info (-q).
#include <spdlog/sinks/sink.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/progress.hpp"
#include "core/result.hpp"

namespace am2z::cli {

/// AM2Z_PROGRESS_INTERVAL: how often a plain progress line is logged when stderr is not a
/// terminal (a duration; "0" turns the lines off). nullopt when unset or empty.
Result<std::optional<std::chrono::milliseconds>> env_progress_interval();

/// What one look at a run's counters found.
struct ProgressSample {
  std::chrono::steady_clock::time_point at;
  long long steps = 0, failed = 0, items_total = 0, items_done = 0;
  bool steps_known = true;  ///< false: only batch items are counted (a distributed run)
};

/// The line shown for `now`, with the rate measured since `before` and `elapsed` since the start.
/// `plain`: for a log line (no terminal decoration).
std::string progress_text(const ProgressSample& now, const ProgressSample& before, std::chrono::milliseconds elapsed,
                          bool plain);

/// A spdlog sink that writes through `inner` after clearing the progress line from the terminal,
/// so a log line never lands in the middle of it (the next redraw puts it back below).
std::shared_ptr<spdlog::sinks::sink> progress_aware_sink(std::shared_ptr<spdlog::sinks::sink> inner);

class ProgressDisplay {
 public:
  /// Shows `progress` until destroyed; null when nothing would be shown (info hidden, or plain
  /// lines turned off and stderr not a terminal).
  static std::unique_ptr<ProgressDisplay> start(std::shared_ptr<const RunProgress> progress);
  ~ProgressDisplay();
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

 private:
  ProgressDisplay(std::shared_ptr<const RunProgress> progress, bool terminal, std::chrono::milliseconds every);
  void loop();
  ProgressSample sample() const;

  std::shared_ptr<const RunProgress> progress_;
  const bool terminal_;
  const std::chrono::milliseconds every_;
  const std::chrono::steady_clock::time_point started_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace am2z::cli
