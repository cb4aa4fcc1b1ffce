#pragma once
// The argument list of one call of lua/step.lua: finishes, continuations, outcomes and fetches,
// in the order the script needs them. Within a group the finish comes first, then every job the
// continuation adds, then the joins it creates (inner before outer), then the dependency and join
// updates, so a join can never see all its dependencies gone while one of its new children is
// still to be added.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/policy.hpp"

namespace am2z::redis {

struct Fetch {
  std::string queue;  ///< key prefix "bull:<name>:"
  int count = 0;
  /// How many jobs the worker can start now, shared by a call's step fetches: a fetch whose
  /// count is no more takes only jobs to start; one whose count is more (--prefetch) holds the
  /// rest for a slot, but takes no more than this while the queue's prioritized set holds jobs.
  /// -1: no such limit.
  int startable = -1;
  bool with_children = false;  ///< a join queue: return each job's child results too
  /// The flow's limits for the queue's processor instance, held across workers by the script:
  /// at most `concurrency` active jobs (0: none), at most `rate.count` starts per `rate.per`.
  int concurrency = 0;
  RateLimit rate{};
};

/// The fixed arguments of one call of lua/step.lua (its header says what each one does).
struct StepHeader {
  long long now_ms = 0;
  long long lock_ms = 30000;
  long long max_events = 10000;
  std::string token_prefix;  ///< unique per call
  std::string worker;        ///< hash field pb; "" for a submitter
  bool all_events = false;
  std::size_t max_job_bytes = 16u << 20;
  int fetch_budget = 0;     ///< step jobs all fetches of the call may take together
  std::string run_results;  ///< KeySpace::run_results(): prefix of run outcome keys

  std::vector<std::string> argv() const;
};

/// The operations of one finished job (or of one submission): "G" and what follows it. Kept as a
/// unit so a call that never reached Redis can be sent again unchanged.
using OpGroup = std::vector<std::string>;

class OpList;

/// Jobs planned only as they are sent: a big batch's items become jobs a chunk at a time, so the
/// arguments of its 100,000 jobs never all exist at once. Each chunk is sent ahead of the group
/// that deferred it, as chunks of a big group are (op_chunks.hpp).
class AddFeed {
 public:
  virtual ~AddFeed() = default;
  /// Jobs still to plan.
  virtual std::size_t remaining() const = 0;
  /// Plans up to `max` more into `ops`: adds of ready jobs under a join, nothing else.
  virtual void next(std::size_t max, OpList& ops) = 0;
};

/// A group with the feeds whose jobs must all be added before it is sent.
struct FedGroup {
  OpGroup ops;
  std::vector<std::shared_ptr<AddFeed>> feeds;
};

/// What a job of am2z's own carries beyond BullMQ's fields.
struct AddedJobExtras {
  /// Non-empty: the job is queued fairly among sessions under this name (see OpList::add()).
  std::string fair_session;
  /// BullMQ's priority: 0 none, 1 first .. kMaxPriority in core/policy.hpp (lua/step.lua, op "A").
  long long priority = 0;
  /// Not before this time (ms since the epoch, the caller's clock): a later one puts the job in
  /// BullMQ's delayed set until then. 0: at once.
  long long due_ms = 0;
  /// Non-empty (a resumed run's step): the id of the job in the same queue whose result the new
  /// job takes when that job completed (lua/step.lua, op "A"), and where that is counted:
  /// "<record key>\n<field>".
  std::string reuse_from;
  std::string reuse_tally;
};

class OpList {
 public:
  /// Opens the group of one finished job (or of a submission, which has no finish).
  void begin_group();
  /// `keep`: "1" keep, "0" delete at once, "c<count>a<seconds>" keep and trim (BullMQ's
  /// removeOnComplete / removeOnFail forms).
  /// `value_ttl_ms` (>= 0): how long the returnvalue lives if it is kept out of line (blobs.hpp).
  void complete(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
                long long attempts_made, std::string return_value, const std::string& keep,
                long long value_ttl_ms = -1);
  /// A job whose data was kept out of line in `blob_key` ended: the blob lives `ttl_ms` more (0:
  /// for ever), as long as its run's outcome (blobs.hpp).
  void expire_blob(const std::string& blob_key, long long ttl_ms);
  void fail_final(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
                  long long attempts_made, const std::string& reason, const std::string& stacktrace,
                  const std::string& keep);
  void retry(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
             long long attempts_made, const std::string& reason, const std::string& stacktrace, long long delay_ms);
  using JobExtras = AddedJobExtras;
  /// A job: `waiting_children` puts it in waiting-children (a join), else it is ready: in wait
  /// (FIFO) when extras.fair_session is empty, else in the prioritized set, ordered by start-time
  /// fair queuing over sessions (lua/step.lua, op "A"), so no session waits behind another's backlog.
  void add(const std::string& q, const std::string& id, const std::string& name, const std::string& data,
           const std::string& opts, bool waiting_children, const std::string& parent_key,
           const std::string& parent_json, const std::string& parent_dependencies, const JobExtras& extras = {});
  void drop_dependency(const std::string& dependencies_key, const std::string& child_key);
  /// Claims a schedule's occurrence `expected_next` (ms; "0" for a new schedule) and moves it on
  /// to `new_next`, whose run, `pending_run` with first jobs `pending_jobs` ("queueKeys|id"
  /// lines), is what the group adds: goes first in the current group, which is skipped whole when
  /// the schedule is gone or its occurrence was claimed already (core/redis/schedules.hpp).
  void claim_schedule(const std::string& schedule_key, const std::string& schedules_key, const std::string& id,
                      long long expected_next, long long new_next, const std::string& pending_run,
                      const std::string& pending_jobs);
  /// The jobs the current group adds ready or delayed (not joins), as "queueKeys|id" lines.
  std::string added_jobs() const;
  /// How a child's end counts for its parent (BullMQ's parent options on failure).
  enum class ChildEnd { completed, failed, removed, fail_parent, continue_parent };
  /// A child of a join ended: completed (value = returnvalue JSON) or failed (value =
  /// failedReason; `error_json` = am2z's full error, kept beside it).
  void deliver(const std::string& join_q, const std::string& join_id, const std::string& child_key,
               const std::string& value, ChildEnd end, const std::string& error_json = "");
  /// How a run ended, for its session's counters.
  enum class RunEnd { completed, failed, cancelled };
  /// The end of a run that failed with an error of `category` (cancelled, or failed).
  static RunEnd end_for(ErrorCategory category) {
    return category == ErrorCategory::cancelled ? RunEnd::cancelled : RunEnd::failed;
  }
  /// A run ended. Written only if the run has no outcome yet: `run_key` (its result key) marks it.
  /// `session` (may be empty: not indexed) gets the end counted and, when it was its last running
  /// run, its idle expiry armed.
  /// `record_key` (may be empty: none): the run's KeySpace::run_record, set to expire with the outcome.
  void outcome(const std::string& reply_key, std::string payload, long long ttl_ms, const std::string& run_key,
               const std::string& session, RunEnd end, const std::string& record_key);
  /// A BullMQ job scheduler's job `producer_id` ended on queue `q` (key prefix): the scheduler's
  /// next job, with `opts_json`, is added (lua/step_schedulers.lua). `next_ms`: its time for a
  /// cron pattern; "" for an `every` scheduler, whose next time the script computes.
  void next_from_scheduler(const std::string& q, const std::string& scheduler_id, const std::string& producer_id,
                           const std::string& next_ms, const std::string& opts_json);
  /// What resuming a run needs, kept in `record_key` (KeySpace::run_record) until its outcome
  /// expires: its input as JSON, its flow's name and hash, its session and the run it resumes.
  void record_run(const std::string& record_key, const std::string& input_json, const std::string& flow,
                  const std::string& hash, const std::string& session, const std::string& resume_of);
  /// A run joins its session's index (at submission): `queue_keys` are the key prefixes of the
  /// queues it may use; `ttl_ms` how long the session's keys live once it has no running run.
  void note_session(const std::string& session, const std::string& run, long long ttl_ms,
                    const std::vector<std::string>& queue_keys);
  /// An event of a run that asked for them (Envelope::events), appended to KeySpace::events():
  /// its JSON text, which holds no raw newline. The open group's events travel as one argument.
  void event(std::string_view json_text);
  /// A job of `q`, whose concurrency is limited across workers, ended in this group: its slot is
  /// free, so another worker is woken if jobs wait.
  void wake(const std::string& q);
  void promote(const std::string& q);
  /// Wakes the worker's own marker waker, blocked on `key` (KeySpace::waker()) beside the markers.
  void wake_waker(const std::string& key);
  void fetch(const Fetch& f);

  /// Number of finish/add/update operations so far (fetches and promotions excluded).
  std::size_t size() const { return ops_; }
  bool empty() const {
    return head_.empty() && joins_.empty() && tail_.empty() && event_count_ == 0 && groups_.empty() &&
           fetches_.empty() && feeds_.empty();
  }
  /// Appends what `planned` holds (operations of an open group only: no begin_group(), no
  /// fetches) to this list's open group, in order, as if they had been added here: a finish's
  /// continuation is planned on the thread that ran the step and joins the finish's group later.
  void append_open_group(OpList&& planned);
  /// The open group's jobs under a join that `feed` plans later (see AddFeed).
  void defer(std::shared_ptr<AddFeed> feed);
  /// Closes the open group and hands over every group; fetches and promotions stay. A list with
  /// deferred jobs is read with take_fed_groups().
  std::vector<OpGroup> take_groups();
  std::vector<FedGroup> take_fed_groups();
  /// ARGV for the script after its fixed arguments (StepHeader::argv()).
  void append_to(std::vector<std::string>& argv);

 private:
  void flush_group();
  static constexpr std::size_t kAddArgs = 15;  ///< "A" and its arguments
  std::vector<std::string> head_;              ///< finishes and adds of the open group
  std::vector<std::string> joins_;             ///< the open group's joins, in the order planned
  std::vector<std::size_t> join_starts_;       ///< where each begins in joins_
  std::vector<std::string> tail_;              ///< dependency, join and outcome updates of the open group
  std::string events_;                         ///< the open group's events, joined by newlines
  std::size_t event_count_ = 0;
  std::vector<OpGroup> groups_;                  ///< closed groups
  std::vector<std::shared_ptr<AddFeed>> feeds_;  ///< the open group's deferred jobs
  /// Closed groups' feeds: (index in groups_, feed)
  std::vector<std::pair<std::size_t, std::shared_ptr<AddFeed>>> group_feeds_;
  std::vector<std::string> fetches_;  ///< promotions and fetches, always last
  std::size_t ops_ = 0;
};

}  // namespace am2z::redis
