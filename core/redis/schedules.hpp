#pragma once
// Schedules: a flow run periodically (`am2z schedule add FLOW --every DUR | --cron EXPR`). The
// schedule lives in Redis (KeySpace::schedule), and its next occurrence always exists as a run
// queued with a delay until its time, so Bull Board shows it as a delayed job. When that time
// comes, any worker that serves the flow claims the occurrence (op "K", atomically with queuing
// the one after it): one worker wins, the others' plans are dropped whole. A missed time (no
// worker up) is not made up: the next occurrence is the first one after now.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/key_space.hpp"
#include "core/redis/op_list.hpp"
#include "core/redis/planner.hpp"

namespace am2z::redis {

/// The code a step-script call refuses a group with when its schedule claim (op "K") fails.
inline constexpr long long kScheduleClaimedCode = -7;

struct Schedule {
  std::string id;  ///< letters, digits, '_' and '-'; at most 64
  std::string flow;
  long long every_ms = 0;  ///< a fixed period, or
  std::string cron;        ///< a cron expression (core/cron.hpp), UTC
  std::string session;     ///< the runs' session; empty: each run its own
  std::string input;       ///< the runs' input state, as JSON text
  long long created_ms = 0;
  long long next_ms = 0;  ///< when the pending occurrence runs
  long long last_ms = 0;  ///< the last occurrence claimed (0: none yet)
  long long fired = 0;    ///< occurrences claimed
  std::string pending;    ///< the pending occurrence's run id
  std::string pending_jobs;  ///< its first jobs, "queueKeys|id" lines (what remove deletes)

  Json to_json() const;
};

/// Whether `id` can name a schedule (it becomes part of its runs' ids).
bool is_schedule_id(std::string_view id);

/// The first occurrence of `s` strictly after `after_ms`; -1 when it has none (a cron date that
/// never comes), an error for a schedule with neither a period nor a valid cron expression.
Result<long long> next_occurrence(const Schedule& s, long long after_ms);

/// The occurrence that follows the pending one (s.next_ms) once it is claimed at `now_ms`: the
/// first after both, so times missed while no worker was up are skipped; a period keeps its
/// phase (every 10s from :03 stays on :03, :13, ...).
Result<long long> occurrence_after(const Schedule& s, long long now_ms);

/// The run id of `s`'s occurrence at `at_ms`.
std::string occurrence_run(const Schedule& s, long long at_ms);

/// Plans `s`'s occurrence at `at_ms` into `ops` as one group: its run, delayed until then, led
/// by the claim that moves the schedule on from `expected_next` (0 for a new schedule). An error
/// naming the schedule's key when its stored input is not a JSON object (nothing planned).
Status plan_occurrence(const PlannedFlow& flow, const Schedule& s, long long expected_next, long long at_ms,
                     long long now, OpList& ops);

/// Creates or replaces schedule `s` (its pending occurrence, if any, removed first) and queues
/// its first occurrence; returns it as stored.
Result<Schedule> add_schedule(Connection& c, const PlannedFlow& flow, Schedule s);

/// Every schedule, by id.
Result<std::vector<Schedule>> list_schedules(Connection& c, const KeySpace& keys);

/// One schedule; nullopt when there is none.
Result<std::optional<Schedule>> read_schedule(Connection& c, const KeySpace& keys, const std::string& id);

/// Removes the schedule and its pending occurrence (its queued jobs deleted, its run cancelled);
/// runs already started go on. False when there was no such schedule.
Result<bool> remove_schedule(Connection& c, const KeySpace& keys, const std::string& id);

/// Ids of schedules whose next occurrence is due at `now_ms`, at most `limit`.
Result<std::vector<std::string>> due_schedules(Connection& c, const KeySpace& keys, long long now_ms, int limit);

}  // namespace am2z::redis
