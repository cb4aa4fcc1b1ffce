#pragma once
// The local runtime: runs a flow in this process and reports its final state or error.
#include <spdlog/logger.h>

#include <memory>
#include <optional>
#include <string>

#include "core/flow.hpp"
#include "core/progress.hpp"
#include "core/step_journal.hpp"

namespace am2z {

class TaskPool;

struct RunOptions {
  std::string session_id;         ///< empty: the input's metadata.sessionId, else generated
  std::optional<Millis> timeout;  ///< whole-run timeout
  /// null: no events built at all. Shared because a step abandoned after a timeout may still
  /// emit after run_flow returned.
  std::shared_ptr<EventSink> events;
  CancelToken cancel;  ///< external cancellation, e.g. Ctrl-C
  int max_call_depth = 10;
  std::shared_ptr<spdlog::logger> logger;  ///< null: the default logger
  /// Runs parallel branches, batch items and guarded steps; null: TaskPool::shared(). It must
  /// outlive every step of the run, including one abandoned after a timeout.
  TaskPool* pool = nullptr;
  /// The run's id; empty: a new one.
  std::string run_id;
  /// Records the run's succeeded steps and reuses a resumed run's results (StepJournal); null: none.
  std::shared_ptr<StepJournal> journal;
  /// Counted as the run goes, for a progress display; null: not counted.
  std::shared_ptr<RunProgress> progress;
};

struct RunOutcome {
  State state;                 ///< final state, or the state before the failing step
  std::optional<Error> error;  ///< set when the run failed
  Millis elapsed{0};
  std::string run_id;
  bool ok() const { return !error.has_value(); }
};

/// Runs `flow` on `input`. Never throws for flow failures; they come back in RunOutcome::error.
RunOutcome run_flow(std::shared_ptr<const Flow> flow, State input, const RunOptions& options);

/// A fresh id: 16 hex characters from a random source.
std::string new_run_id();

}  // namespace am2z
