#pragma once
// Reading what lua/step.lua returns: the groups whose finish was refused, the jobs it fetched
// (the fields of their hash a worker reads) and the next due time of delayed jobs per queue.
#include <array>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/redis/connection.hpp"

namespace am2z::redis {

/// The fields of a job's hash a fetch reads and returns, by position, in this order (jobFields in
/// core/redis/lua/step_fetch.lua); a job too big to hand over has its size after them.
inline constexpr std::array<const char*, 10> kFetchedFields{"data", "opts",       "timestamp", "atm",    "ats",
                                                            "defa", "am2zReused", "rjk",       "parent", "parentKey"};

struct FetchedJob {
  std::string queue;  ///< key prefix "bull:<name>:"
  std::string id;
  std::string token;                                    ///< our lock token
  std::unordered_map<std::string, std::string> fields;  ///< those of kFetchedFields the job has
  /// A join's children that ended: child key → returnvalue (:processed), → failedReason (:failed),
  /// → am2z's error JSON (:errors).
  std::vector<std::pair<std::string, std::string>> succeeded, failed;
  std::unordered_map<std::string, std::string> errors;
  /// A join with more ended children than its fetch hands over: how many, read with
  /// read_join_failures and a HashScan of :processed (join_children.hpp); 0 when they came with the job.
  long long children_to_read = 0;

  std::string key() const { return queue + id; }
  /// A field's value, or `fallback` when the hash lacks it.
  std::string field(const std::string& name, const std::string& fallback = "") const;
  long long number(const std::string& name, long long fallback = 0) const;
};

struct StepReply {
  std::vector<std::pair<long long, long long>> refused;  ///< (group number from 1, code)
  std::vector<FetchedJob> jobs;
  std::vector<std::pair<std::string, long long>> next_due;  ///< queue → ms, -1 when none
  /// Queues a global limit held back: queue → when its rate window opens (ms), -1 for a
  /// concurrency cap (a finish wakes it).
  std::vector<std::pair<std::string, long long>> limited;
  /// Queues a fetch took all it could from (as many as asked, or the call's budget allowed):
  /// more may wait there.
  std::vector<std::string> full;
};

/// Decodes a step reply; an ExecutionError when its shape is not what the script returns.
Result<StepReply> decode_step_reply(const Reply& r);

}  // namespace am2z::redis
