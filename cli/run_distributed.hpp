#pragma once
// `am2z run --redis`: submit a run to the workers, wait for its outcome through Redis and print
// exactly what a local run prints, with the same exit codes.
#include <optional>
#include <string>

#include "cli/redis_support.hpp"
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
  std::string max_job_size = "16MiB";
  bool all_events = false;
};

/// Submits `input` to a run of the flow `loaded` (from args.flow_file) and prints its outcome.
int run_distributed(const DistributedRunArgs& args, const LoadResult& loaded, State input);

/// Exit code of a run's outcome payload, shared with `am2z result`: prints state or error.
int print_outcome(const Json& payload, bool compact);

}  // namespace am2z::cli
