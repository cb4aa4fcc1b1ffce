#pragma once
// `am2z run --redis`: submit a run to the workers, wait for its outcome through Redis and print
// exactly what a local run prints, with the same exit codes.
#include <optional>
#include <string>

#include "cli/redis_support.hpp"
#include "core/events.hpp"
#include "core/redis/distributed_run.hpp"
#include "core/state.hpp"
#include "flows/loader.hpp"

namespace am2z::cli {

struct DistributedRunArgs {
  RedisArgs redis;
  std::string flow_file;
  std::string session;
  std::optional<Millis> timeout;
  bool detach = false;
  bool compact = false;
  std::string result_ttl = "24h";
  std::string session_ttl = "24h";
  std::string max_job_size = "16MiB";
  bool all_events = false;
  bool require_worker = false;
  long long priority = 0;  ///< --priority: the run's BullMQ priority (1 first); 0 none
  std::string delay;       ///< --delay: no step starts sooner; empty: none
  bool publish_events = false;          ///< workers publish the run's events (am2z events reads them)
  std::shared_ptr<EventSink> events;  ///< --events: the run's events are followed and written here
  /// --resume RUN: a new run taking the results of RUN's completed steps; its input and session
  /// are RUN's unless given (input_given: -i or --set was).
  std::string resume;
  bool input_given = false;
  /// Show the run's batch items on stderr while waiting (ProgressDisplay); off when the events
  /// are written to stderr.
  bool progress = true;
};

/// Submits `input` to a run of the flow `loaded` (from args.flow_file) and prints its outcome.
int run_distributed(const DistributedRunArgs& args, const LoadResult& loaded, State input);

/// Prints a run's final state (stdout) or error (stderr) and returns its exit code; shared with
/// `am2z result`.
int print_outcome(const redis::DistributedOutcome& outcome, bool compact);

}  // namespace am2z::cli
