#pragma once
// Reading what a fetched job asks for: its options, its am2z envelope or BullMQ parent, and its
// input state. Every field comes from Redis, where anyone who can Queue.add writes, so nothing
// here throws, recurses without bound or loads a job over the size limit.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/json_limits.hpp"
#include "core/redis/envelope.hpp"
#include "core/redis/job_codec.hpp"
#include "core/redis/op_list.hpp"
#include "core/state.hpp"

namespace am2z::redis {

/// The default largest job a worker takes: data and options together.
inline constexpr std::size_t kDefaultMaxJobBytes = 16u << 20;

struct JobLimits {
  std::size_t max_bytes = kDefaultMaxJobBytes;  ///< data + opts of one job
  std::size_t max_depth = kMaxJsonDepth;
};

/// Parses field `name` of `job` (`fallback` when the hash lacks it) as JSON within `limits`; a
/// ValidationError naming the job key, the field and where the text went wrong otherwise.
Result<Json> parse_job_field(const FetchedJob& job, const std::string& name, std::string_view fallback,
                             const JobLimits& limits);

/// Everything read from a step job before it can run, or the first reason it cannot.
struct JobRead {
  Json opts = Json::object();
  /// opts.am2z when it could be read (even if a later field failed, so the run can be told why).
  std::optional<Envelope> envelope;
  /// opts.am2z is malformed but names a run: `envelope` then holds only that run and its result
  /// key, enough to give the run its outcome directly, never to continue its flow.
  bool envelope_partial = false;
  bool foreign = false;  ///< no opts.am2z: a job from BullMQ's Queue.add, run as one step
  std::optional<State> state;
  std::optional<Error> error;
};

/// Reads a step job: size (the step script's kOversizeField mark), opts, envelope (its keys in
/// `keys`), data.
JobRead read_job(const FetchedJob& job, const JobLimits& limits, const KeySpace& keys);

/// A BullMQ option of a job as an integer, `fallback` when absent or not a number.
long long int_option(const Json& j, const char* key, long long fallback);

/// BullMQ's removeOnComplete / removeOnFail of a job as the step script's keep argument; the
/// worker's own setting when the job has none.
std::string retention(const Json& opts, const char* key, bool worker_keeps);

/// A foreign job's parent (BullMQ FlowProducer): where it is and what the job's failure does.
struct ForeignParent {
  std::string queue;  ///< key prefix of the parent's queue
  std::string id;
  OpList::ChildEnd on_failure = OpList::ChildEnd::failed;
  bool wait_on_failure = true;  ///< BullMQ's default: a failed child keeps its parent waiting
};

/// The parent a foreign job names in its "parent" field, if it names a usable one.
std::optional<ForeignParent> foreign_parent(const FetchedJob& job, const JobLimits& limits);

}  // namespace am2z::redis
