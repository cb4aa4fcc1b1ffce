#pragma once
// What am2z keeps in a job beyond its state: which run and flow it belongs to, where in the flow
// graph it stands, and where its result goes. Stored as the "am2z" key of the job's opts JSON,
// which BullMQ keeps verbatim and Bull Board shows; jobs without it are foreign (added by
// BullMQ's Queue.add, say) and run as a single step.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/redis/key_space.hpp"
#include "core/result.hpp"

namespace am2z::redis {

/// The join (parallel or batch) a job's result feeds, and which branch or item it is.
struct JoinRef {
  std::string queue;  ///< key prefix of the join queue, "bull:<flow>._join:"
  std::string id;     ///< the join job's id
  std::string node;   ///< node path of the parallel or batch node
  long long index = 0;

  std::string key() const { return queue + id; }
  std::string dependencies_key() const { return key() + ":dependencies"; }
};

/// The session of a run submitted without one: "session-<run id>", not indexed.
inline std::string generated_session(const std::string& run_id) { return "session-" + run_id; }

/// A composite node's deadline, carried by the jobs under it.
struct NodeDeadline {
  std::string path;   ///< the node's path ("n.1")
  std::string label;  ///< its label, for the error
  long long at_ms = 0;       ///< ms since the epoch
  long long timeout_ms = 0;  ///< its timeout:
};

struct Envelope {
  std::string run;        ///< run id
  std::string flow;       ///< flow name
  std::string flow_hash;  ///< SHA-256 of the flow file the submitter loaded
  std::string node;       ///< node path, "n" for the root, "n.2.0" for descendants
  std::string scope;      ///< batch item indexes on the way here, "" outside any batch: "3", "3.1"
  std::string session;
  std::string reply;           ///< list the run's outcome is pushed to
  long long reply_ttl_ms = 0;  ///< 0: the reply list is the submitter's and does not expire
  long long started_ms = 0;    ///< when the run was submitted
  bool events = false;         ///< the run's lifecycle events go to KeySpace::events()
  /// The run's BullMQ priority (run --priority): its steps' jobs wait behind those of a lower
  /// number; a step's own priority: wins. 0: none.
  long long priority = 0;
  /// run --delay: no step of the run starts before this time (ms since the epoch). 0: none.
  long long not_before_ms = 0;
  /// The deadlines of the composite nodes with a `timeout:` the job is inside: a step not done
  /// by the earliest fails, or is cancelled, with that node's "timed out after <ms>ms".
  std::vector<NodeDeadline> deadlines;
  /// run --resume: the run this one resumes. A step whose job in that run completed (same queue,
  /// same node path and batch scope) is not run again: lua/step.lua gives the new job the old
  /// job's result, which the worker takes as the step's outcome. Empty: a fresh run.
  std::string resume_of;
  /// The run has a KeySpace::run_record (run --redis keeps one), to expire with its outcome.
  bool recorded = false;

  /// Keeps only the deadlines of nodes that contain node path `path` (itself included).
  void keep_deadlines_over(const std::string& path);
  /// The earliest deadline that holds at this job's node; null when none.
  const NodeDeadline* deadline() const;
  std::optional<JoinRef> join;

  /// Whether the run's session was named by its submitter (indexed, served fairly) rather
  /// than generated for it.
  bool named_session() const { return !session.empty() && session != generated_session(run); }

  Json to_json() const;
  /// Reads opts.am2z; an error naming the bad field when it is present but malformed. The reply
  /// key defaults to the run's result key and must stay under `keys`' own root (a job cannot
  /// make a worker write into a queue's keys), and under the run results only at its own run's.
  static Result<Envelope> from_json(const Json& j, const KeySpace& keys);
};

/// Whether `id` can name a run: what new_run_id() makes, and nothing that could break a key.
bool is_run_id(std::string_view id);

/// Job id of the node at `path` in `scope` of run `run`: unique in the run, never integer-looking,
/// no ':' (BullMQ splits keys at ':').
std::string job_id(const std::string& run, const std::string& path, const std::string& scope);

}  // namespace am2z::redis
