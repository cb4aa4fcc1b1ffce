#include "core/redis/op_list.hpp"

#include <cassert>
#include <iterator>
#include <utility>

#include "core/redis/key_space.hpp"
#include "core/redis/op_chunks.hpp"

namespace am2z::redis {

namespace {
// Each argument goes in once: an rvalue (a big state's text) is moved, not copied twice as an
// initializer_list of strings would (its elements are const).
template <class... Items>
void push(std::vector<std::string>& v, Items&&... items) {
  (v.emplace_back(std::forward<Items>(items)), ...);
}
}  // namespace

std::vector<std::string> StepHeader::argv() const {
  return {std::to_string(now_ms),
          std::to_string(lock_ms),
          std::to_string(max_events),
          token_prefix,
          worker,
          all_events ? "all" : "final",
          run_results,
          std::to_string(max_job_bytes),
          std::to_string(fetch_budget),
          kOversizeField};  // not read any more (step.lua, ARGV[10]): keeps the operations at ARGV[11]
}

void OpList::flush_group() {
  if (head_.empty() && joins_.empty() && tail_.empty() && event_count_ == 0 && feeds_.empty()) return;
  if (groups_.empty()) groups_.emplace_back();  // operations before any begin_group()
  for (auto& feed : feeds_) group_feeds_.emplace_back(groups_.size() - 1, std::move(feed));
  feeds_.clear();
  OpGroup& g = groups_.back();
  g.reserve(g.size() + head_.size() + joins_.size() + tail_.size() + 3);
  for (auto& s : head_) g.push_back(std::move(s));
  for (auto join = join_starts_.rbegin(); join != join_starts_.rend(); ++join) {
    for (std::size_t x = *join; x < *join + kAddArgs; ++x) g.push_back(std::move(joins_[x]));
  }
  for (auto& s : tail_) g.push_back(std::move(s));
  head_.clear();
  joins_.clear();
  join_starts_.clear();
  tail_.clear();
  if (event_count_ > 0) {
    // last in its group, so a group skipped for a lost job publishes nothing
    push(g, "E", std::to_string(event_count_), std::move(events_));
    events_.clear();
    event_count_ = 0;
  }
}

void OpList::begin_group() {
  flush_group();
  groups_.push_back(OpGroup{"G"});
}

void OpList::complete(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
                      long long attempts_made, std::string return_value, const std::string& keep,
                      long long value_ttl_ms) {
  // read by the writer that keeps a big returnvalue out of line (blobs.hpp)
  if (value_ttl_ms >= 0 && return_value.size() > kValueChunkBytes) push(head_, "T", std::to_string(value_ttl_ms));
  push(head_, "C", q, id, token, std::to_string(processed_on), std::to_string(attempts_made), std::move(return_value),
       keep);
  ++ops_;
}

void OpList::expire_blob(const std::string& blob_key, long long ttl_ms) {
  push(head_, "X", blob_key, std::to_string(ttl_ms));
}

void OpList::fail_final(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
                        long long attempts_made, const std::string& reason, const std::string& stacktrace,
                        const std::string& keep) {
  push(head_, "F", q, id, token, std::to_string(processed_on), std::to_string(attempts_made), reason, stacktrace, keep);
  ++ops_;
}

void OpList::retry(const std::string& q, const std::string& id, const std::string& token, long long processed_on,
                   long long attempts_made, const std::string& reason, const std::string& stacktrace,
                   long long delay_ms) {
  push(head_, "R", q, id, token, std::to_string(processed_on), std::to_string(attempts_made), reason, stacktrace,
       std::to_string(delay_ms));
  ++ops_;
}

void OpList::add(const std::string& q, const std::string& id, const std::string& name, const std::string& data,
                 const std::string& opts, bool waiting_children, const std::string& parent_key,
                 const std::string& parent_json, const std::string& parent_dependencies, const JobExtras& extras) {
  // A join goes after every job of the group: created last, it sees how many of its children
  // are still to end (lua/step.lua, op "A" with "c"), however the group is chunked. Joins are
  // planned outer first: inner ones are written first, so an outer join counts them.
  auto& to = waiting_children ? joins_ : head_;
  push(to, "A", q, id, name, data, opts, waiting_children ? "c" : "w", parent_key, parent_json, parent_dependencies,
       extras.fair_session, std::to_string(extras.priority), std::to_string(extras.due_ms), extras.reuse_from,
       extras.reuse_tally);
  if (waiting_children) join_starts_.push_back(joins_.size() - kAddArgs);
  ++ops_;
}

void OpList::claim_schedule(const std::string& schedule_key, const std::string& schedules_key, const std::string& id,
                            long long expected_next, long long new_next, const std::string& pending_run,
                            const std::string& pending_jobs) {
  const std::string args[] = {
      "K",         schedule_key, schedules_key, id, std::to_string(expected_next), std::to_string(new_next),
      pending_run, pending_jobs};
  head_.insert(head_.begin(), std::begin(args), std::end(args));
  ++ops_;
}

std::string OpList::added_jobs() const {
  std::string out;
  for (std::size_t i = 0; i < head_.size(); i += 1 + op_arity(head_[i])) {
    if ((head_[i] == "A" || head_[i] == "a") && i + 2 < head_.size()) out += head_[i + 1] + "|" + head_[i + 2] + "\n";
  }
  return out;
}

void OpList::drop_dependency(const std::string& dependencies_key, const std::string& child_key) {
  push(tail_, "S", dependencies_key, child_key);
  ++ops_;
}

void OpList::deliver(const std::string& join_q, const std::string& join_id, const std::string& child_key,
                     const std::string& value, ChildEnd end, const std::string& error_json) {
  static constexpr const char* kModes[] = {"1", "0", "2", "3", "4"};
  push(tail_, "J", join_q, join_id, child_key, value, kModes[static_cast<int>(end)], error_json);
  ++ops_;
}

void OpList::outcome(const std::string& reply_key, std::string payload, long long ttl_ms, const std::string& run_key,
                     const std::string& session, RunEnd end, const std::string& record_key) {
  static constexpr const char* kEnds[] = {"completed", "failed", "cancelled"};
  push(tail_, "O", reply_key, std::move(payload), std::to_string(ttl_ms), run_key, session,
       kEnds[static_cast<int>(end)], record_key);
  ++ops_;
}

void OpList::next_from_scheduler(const std::string& q, const std::string& scheduler_id, const std::string& producer_id,
                                 const std::string& next_ms, const std::string& opts_json) {
  push(tail_, "Q", q, scheduler_id, producer_id, next_ms, opts_json);
  ++ops_;
}

void OpList::record_run(const std::string& record_key, const std::string& input_json, const std::string& flow,
                        const std::string& hash, const std::string& session, const std::string& resume_of) {
  push(head_, "I", record_key, input_json, flow, hash, session, resume_of);
  ++ops_;
}

void OpList::note_session(const std::string& session, const std::string& run, long long ttl_ms,
                          const std::vector<std::string>& queue_keys) {
  std::string queues;
  for (const auto& q : queue_keys) queues.append(q).push_back('\n');  // keys never hold a newline
  push(head_, "N", session, run, std::to_string(ttl_ms), queues);
  ++ops_;
}

void OpList::event(std::string_view json_text) {
  if (event_count_ > 0) events_.push_back('\n');
  events_.append(json_text);
  ++event_count_;
  ++ops_;
}

void OpList::wake(const std::string& q) {
  push(tail_, "W", q);
  ++ops_;
}

void OpList::promote(const std::string& q) { push(fetches_, "P", q); }

void OpList::wake_waker(const std::string& key) { push(fetches_, "Z", key); }

void OpList::fetch(const Fetch& f) {
  const bool rated = f.rate.count > 0;
  push(fetches_, "M", f.queue, std::to_string(f.count), f.with_children ? "1" : "0",
       f.concurrency > 0 ? std::to_string(f.concurrency) : "", rated ? std::to_string(f.rate.count) : "",
       rated ? std::to_string(f.rate.per.count()) : "", f.startable >= 0 ? std::to_string(f.startable) : "");
}

void OpList::append_open_group(OpList&& planned) {
  assert(planned.groups_.empty() && planned.fetches_.empty());
  // A continuation can hold a batch's 100,000 adds, this group only the finish before it: the
  // finish goes in front of the continuation's vector rather than the adds into a new one.
  planned.head_.insert(planned.head_.begin(), std::make_move_iterator(head_.begin()),
                       std::make_move_iterator(head_.end()));
  head_ = std::move(planned.head_);
  const std::size_t base = joins_.size();
  for (auto& s : planned.joins_) joins_.push_back(std::move(s));
  for (std::size_t start : planned.join_starts_) join_starts_.push_back(base + start);
  for (auto& s : planned.tail_) tail_.push_back(std::move(s));
  for (auto& feed : planned.feeds_) feeds_.push_back(std::move(feed));
  if (planned.event_count_ > 0) {
    if (event_count_ > 0) events_.push_back('\n');
    events_.append(planned.events_);
    event_count_ += planned.event_count_;
  }
  ops_ += planned.ops_;
  planned = OpList();
}

void OpList::defer(std::shared_ptr<AddFeed> feed) {
  ops_ += feed->remaining();
  feeds_.push_back(std::move(feed));
}

std::vector<FedGroup> OpList::take_fed_groups() {
  flush_group();
  std::vector<FedGroup> out;
  out.reserve(groups_.size());
  for (auto& g : groups_) out.push_back(FedGroup{std::move(g), {}});
  for (auto& [at, feed] : group_feeds_) out[at].feeds.push_back(std::move(feed));
  groups_.clear();
  group_feeds_.clear();
  ops_ = 0;
  return out;
}

std::vector<OpGroup> OpList::take_groups() {
  assert(feeds_.empty() && group_feeds_.empty());  // a list with feeds: take_fed_groups()
  flush_group();
  std::vector<OpGroup> out;
  out.swap(groups_);
  ops_ = 0;
  return out;
}

void OpList::append_to(std::vector<std::string>& argv) {
  flush_group();
  assert(group_feeds_.empty());  // deferred jobs are sent in chunks: take_fed_groups()
  for (auto& g : groups_) {
    for (auto& s : g) argv.push_back(std::move(s));
  }
  for (auto& s : fetches_) argv.push_back(std::move(s));
  groups_.clear();
  fetches_.clear();
  ops_ = 0;
}

}  // namespace am2z::redis
