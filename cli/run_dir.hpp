#pragma once
// run --run-dir DIR: each local run keeps DIR/<run id>/ with run.json (flow, input, session, pid,
// the run it resumes), journal.jsonl (core/step_journal.hpp) and, once it ends, outcome.json;
// run --resume ID reads them back. Runs older than the keep time are removed as new ones start.
#include <memory>
#include <optional>
#include <string>

#include "core/runner.hpp"
#include "core/step_journal.hpp"

namespace am2z::cli {

/// What a run resuming an earlier one starts from.
struct ResumeSource {
  std::string run_id;
  Json input;                   ///< the recorded input document ({"metadata": ..., ...data})
  std::string session;          ///< the run's session, empty when it was generated for it
  StepJournal::Results results;  ///< its steps' results
};

/// Error code of read_resumable for a run whose process is still alive.
inline constexpr const char* kRunNotEnded = "RUN_NOT_ENDED";

/// The run `id` kept under `root`, for a run of flow `flow_name`. Errors name the directory and
/// why: unknown run, another flow's run, a run whose process is still alive.
Result<ResumeSource> read_resumable(const std::string& root, const std::string& id, const std::string& flow_name);

/// A new run's directory, open for the run.
struct RunDir {
  std::string run_id;
  std::string path;  ///< <root>/<run id>
  std::shared_ptr<StepJournal> journal;
};

/// Creates <root>/<new run id>/ for a run of `flow` on `input` (resuming `resumed` when set, whose
/// results the journal then reuses) and removes the run directories under `root` whose last
/// write is older than `keep`.
Result<RunDir> open_run_dir(const std::string& root, const Flow& flow, const State& input, Millis keep,
                            std::optional<ResumeSource> resumed);

/// Writes the run's outcome.json (ok, and the error when it failed): the run has ended.
void write_outcome(const RunDir& dir, const RunOutcome& outcome);

}  // namespace am2z::cli
