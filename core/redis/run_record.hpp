#pragma once
// What `am2z run --redis` keeps of each run for resuming it (KeySpace::run_record): the input,
// the flow's name and hash, the session, and, for a resumed run, how many results of each step
// it took from the run it resumes. `run --resume` and `dlq retry` read it.
#include <map>
#include <optional>
#include <string>

#include "core/redis/connection.hpp"
#include "core/redis/key_space.hpp"
#include "core/state.hpp"

namespace am2z::redis {

struct RunRecord {
  std::string run_id;
  std::string input;  ///< the run's input as JSON text ({"metadata": ..., ...data})
  std::string flow;   ///< the flow's name
  std::string hash;   ///< SHA-256 of the flow file it was submitted with
  std::string session;
  long long submitted_ms = 0;
  std::string resume_of;  ///< the run it resumes; empty for a fresh run
  /// node path → how many of its steps' results were taken from `resume_of` (a batch's items
  /// count one each).
  std::map<std::string, long long> reused;
};

/// The run's session if its submitter named it; empty for the session generated for it.
std::string named_session(const RunRecord& rec);

/// The input a run resuming `rec`'s run starts from: the recorded one, in the run's named
/// session (none when its session was generated for it). `keys` names the record in errors.
Result<State> resume_input(const RunRecord& rec, const KeySpace& keys);

/// The run's record; nullopt when it has none (never kept, expired with its outcome, or an
/// unknown id). An error when Redis fails or the hash is not a record.
Result<std::optional<RunRecord>> read_run_record(Connection& c, const KeySpace& keys, const std::string& run_id);

}  // namespace am2z::redis
