#include "core/redis/worker.hpp"

#include <malloc.h>

#include <algorithm>
#include <thread>

#include "core/redis/blobs.hpp"
#include "core/redis/op_chunks.hpp"
#include "core/redis/schedules.hpp"
#include "core/redis/scripts.hpp"
#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

using namespace detail;

WorkerObserver::~WorkerObserver() = default;

Worker::Worker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Worker::~Worker() = default;

WorkerStats Worker::stats() const {
  const StatsObserver& s = *impl_->stats;
  return WorkerStats{s.completed.load(), s.failed.load(), s.retried.load()};
}

Status Worker::run(const CancelToken& stop) { return impl_->serve(stop); }

std::vector<std::string> Worker::Impl::step_header(long long now, int fetch_budget) {
  StepHeader h;
  h.now_ms = now;
  h.lock_ms = options.lock_duration.count();
  h.max_events = options.max_events;
  h.token_prefix = token_base + ":" + std::to_string(++call_seq);
  h.worker = options.name;
  h.all_events = options.all_events;
  h.max_job_bytes = options.max_job_bytes;
  h.fetch_budget = fetch_budget;
  h.run_results = space.run_results();
  return h.argv();
}

bool Worker::Impl::accept_reply(const Reply& reply, InFlight& call) {
  const auto& fetched_from = call.fetched_from;
  const int fetch_budget = call.budget;
  auto decoded = decode_step_reply(reply);
  if (!decoded) {
    log->error("{}", decoded.error().message);
    return false;
  }
  for (const auto& [group, code] : decoded->refused) {
    if (code == kScheduleClaimedCode) {
      log->debug("a schedule's occurrence was claimed by another worker (or the schedule removed)");
    } else if (code == kStagedOutcomeGoneCode && group >= 1 && static_cast<std::size_t>(group) <= call.groups.size()) {
      // Nothing else was sent behind it (send_call), so the finish still holds its job: the
      // outcome goes again first, in the call itself this time.
      OpGroup& g = call.groups[static_cast<std::size_t>(group) - 1];
      log->warn("the staged outcome of {} was gone when its call ran (evicted or deleted): sending it again",
                outcome_run_key(g));
      inline_groups.insert(group_identity(g));
      unsent.insert(unsent.begin(), std::move(g));
    } else if (code == kBlobGoneCode && group >= 1 && static_cast<std::size_t>(group) <= call.groups.size()) {
      // As above: nothing was sent behind it; the group goes again with its values in it.
      OpGroup& g = call.groups[static_cast<std::size_t>(group) - 1];
      log->warn(
          "a value kept out of line for {} was not whole when its call ran (evicted, deleted, or a push "
          "refused): sending it again in the call",
          g.size() > 3 ? g[2] + g[3] : std::string("a submission"));
      inline_groups.insert(group_identity(g));
      unsent.insert(unsent.begin(), std::move(g));
    } else {
      log->warn("a finished job was not recorded (code {}): this worker no longer owned it", code);
    }
  }
  for (const auto& [q, due] : decoded->next_due) {
    if (auto it = bindings.find(q); it != bindings.end()) it->second->next_due = due;
  }
  std::map<std::string, long long> rate_limited;
  for (const auto& [q, until] : decoded->limited) {
    if (until >= 0) rate_limited[q] = until;  // a concurrency cap (-1): a finish's marker wakes it
  }
  std::map<std::string, int> per_queue;
  for (const auto& job : decoded->jobs) ++per_queue[job.queue];
  // The script fetched from the queues in this order, step queues drawing on one budget: a step
  // queue it reached with budget left and found empty is empty; one it never reached is not.
  int left = fetch_budget;
  for (const auto& b : fetched_from) {
    const int got = per_queue[b->keys];
    const bool examined = b->instance == nullptr || left > 0;
    if (b->instance != nullptr) left -= got;
    b->full = std::find(decoded->full.begin(), decoded->full.end(), b->keys) != decoded->full.end();
    // full with none taken: jobs wait that this worker may not hold yet (op "M"'s heldCount)
    if (examined) b->maybe_ready = got > 0 || b->full;
    b->held_back = examined && got == 0 && b->full;
    if (auto it = rate_limited.find(b->keys); it != rate_limited.end()) {
      b->limited_until = it->second;  // jobs wait: ask again when the window opens
      b->maybe_ready = true;
    }
  }
  OpList join_ops;
  bool joins = false;
  for (auto& job : decoded->jobs) {
    auto it = bindings.find(job.queue);
    if (it == bindings.end()) continue;
    if (it->second->instance == nullptr) {
      take_join(std::move(job), it->second, join_ops);
      joins = true;
    } else {
      take_fetched(std::move(job), it->second);
    }
  }
  queue_groups(join_ops.take_fed_groups());
  if (joins) {
    for (auto& [keys, b] : bindings) b->maybe_ready = true;
  }
  return !decoded->jobs.empty();
}

void Worker::Impl::isolate_failure(Connection& c, const std::vector<std::shared_ptr<Binding>>& fetched_from) {
  // Each ended job's operations alone: a group Redis refuses is dropped, and its job, still
  // active, runs again after stalled-job recovery.
  std::vector<OpGroup> keep;
  for (auto& g : unsent) {
    if (!keep.empty()) {  // Redis went away meanwhile: the rest waits for the next call
      keep.push_back(std::move(g));
      continue;
    }
    auto argv = step_header(now_ms(), 0);
    argv.insert(argv.end(), g.begin(), g.end());
    auto r = run_script(c, ScriptId::step, argv);
    if (!r && is_transient(r.error())) {
      keep.push_back(std::move(g));
      continue;
    }
    if (!r) {
      log->error("redis refused to record the end of job {}: {}; stalled-job recovery will run it again",
                 group_job_key(g), r.error().message);
    } else if (auto d = decode_step_reply(*r); d && !d->refused.empty()) {
      log->warn("a finished job was not recorded: this worker no longer owned it");
    }
    unsent_locks.erase(group_job_key(g));
  }
  unsent = std::move(keep);
  // Then the queues fetched from: one with a key of the wrong type cannot be served until fixed.
  static const std::vector<std::pair<const char*, const char*>> kKeyTypes{
      {"wait", "list"},     {"active", "list"}, {"prioritized", "zset"},     {"delayed", "zset"},
      {"marker", "zset"},   {"meta", "hash"},   {"completed", "zset"},       {"failed", "zset"},
      {"events", "stream"}, {"stalled", "set"}, {"waiting-children", "zset"}};
  for (const auto& b : fetched_from) {
    std::vector<std::vector<std::string>> probes;
    for (const auto& [suffix, type] : kKeyTypes) probes.push_back({"TYPE", b->keys + suffix});
    auto types = c.pipeline(probes);
    if (!types) return;
    for (std::size_t i = 0; i < kKeyTypes.size() && i < types->size(); ++i) {
      const std::string& t = (*types)[i].str;
      if (t != "none" && t != kKeyTypes[i].second) {
        log->error("queue {} cannot be served: key {}{} is a {}, not a {}; skipping it for {} ms", b->name, b->keys,
                   kKeyTypes[i].first, t, kKeyTypes[i].second, options.corrupt_queue_pause.count());
        b->disabled_until = Clock::now() + options.corrupt_queue_pause;
        break;
      }
    }
  }
}

Status Worker::Impl::serve(const CancelToken& stop) {
  Connection conn(options.endpoint, dispatcher_connect_options());
  if (auto st = conn.connect(); !st) return st;
  ConnectOptions blocking;
  blocking.command_timeout = options.idle_poll + options.block_margin;
  Connection blocker(options.endpoint, blocking);
  if (auto st = blocker.connect(); !st) return st;
  follow_bindings();
  log->info("worker {} serving {} queue(s) on {} with concurrency {}", options.name, bindings.size(),
            options.endpoint.display(), options.concurrency);
  for (const auto& [keys, b] : bindings) log->debug("queue {}", b->name);

  CancelRegistration on_stop = stop.on_cancel([this] {
    stopping.store(true);
    std::lock_guard lock(mutex);
    wake.notify_all();
    waker_wake.notify_all();
  });
  if (stop.cancelled()) stopping.store(true);
  std::thread waker([this, &blocker] { waker_loop(blocker); });

  heartbeat(conn, true);
  announce();
  refresh_cancelled(conn);
  LoopTimers t;
  const auto start = Clock::now();
  t.beat = start + options.heartbeat_interval;
  t.cancel_refresh = start + options.cancel_refresh;
  t.renew = start + options.lock_duration / 4;
  t.stalled = start;
  t.poll = start + options.idle_poll;
  t.redis_backoff = options.redis_backoff_min;
  while (turn(conn, t)) {
  }
  stopping.store(true);
  {
    std::lock_guard lock(mutex);
    waker_wake.notify_all();
  }
  // The waker may be blocked on the markers for up to idle_poll (1 s by default, 30 s in
  // tests/redis/waker_test.cpp): a member on its own key ends the block now, so a stop does not
  // wait the poll out. Should Redis be gone, the block fails as soon as its connection does.
  // The same member and expiry as a call's wake-up (op "Z" of lua/step.lua, OpList::wake_waker).
  const std::string own_key = waker_key();
  if (auto woke = conn.pipeline({{"ZADD", own_key, "0", "0"}, {"PEXPIRE", own_key, "60000"}}); !woke) {
    log->debug("redis: could not wake the marker waker ({})", woke.error().message);
  }
  waker.join();
  if (auto removed = conn.command({"DEL", own_key}); !removed) {
    log->debug("redis: could not remove the waker's key {} ({})", own_key, removed.error().message);
  }
  heartbeat(conn, false);
  named.clear();
  const StatsObserver& s = *stats;
  log->info("worker {} stopped: {} completed, {} failed, {} retried", options.name, s.completed.load(), s.failed.load(),
            s.retried.load());
  return {};
}

bool Worker::Impl::turn(Connection& conn, LoopTimers& t) {
  // A flow was added or removed: the heartbeat and the named connections say so at once.
  if (follow_bindings()) t.beat = Clock::now();
  // 1. Collect what ended, and decide what to fetch.
  std::size_t running = 0;
  const bool stopping_now = stopping.load();
  if (stopping_now) return_prefetched();
  std::deque<Finished> done = collect_finished(running);
  if (stopping_now && !wind_down(t, running, done.empty() && in_flight.empty())) return false;

  OpList ops;
  for (auto& f : done) {
    // A join merged on the pool: its continuation may be on any queue served here.
    if (f.binding->instance == nullptr) {
      for (auto& [keys, b] : bindings) b->maybe_ready = true;
    }
    memory_to_return = memory_to_return || f.big_join;
    finish_ops(f, ops);
  }
  queue_groups(ops.take_fed_groups());
  if (memory_to_return) return_memory();
  if (!reruns.empty()) start_reruns();
  if (!prefetched.empty()) {
    start_prefetched();
    std::lock_guard lock(mutex);
    running = held_active();
  }
  // Locks, heartbeats and stalled checks keep their own clock however busy the worker is (a
  // worker kept busy by short jobs must still renew a long step's lock). They share the
  // connection, so the calls in flight are read first.
  if (housekeeping_due(t)) {
    drain_calls(conn, t);
    housekeeping(conn, t);
    std::lock_guard lock(mutex);
    running = held_active();  // the calls read may have started jobs
  }
  // 2. Calls: finish, continue, fetch. -c bounds the steps this worker runs, and with --prefetch
  // the step jobs it holds locked: a call's finishes are applied before its fetches, so the jobs
  // it ends free their slots for it; what calls still in flight may fetch stays counted until
  // their replies say what they took. Two calls in flight share the slots, so that Redis runs one
  // while this thread handles the jobs of the other.
  bool sent = false;
  update_waker_skip(stopping_now);
  if (in_flight.size() < kMaxInFlight) {
    const int c = options.concurrency;
    const int extra = options.prefetch;
    const int held = static_cast<int>(running + prefetched.size() + reruns.size()) + reserved_budget();
    const int run_slots = stopping_now ? 0 : std::clamp(c - held, 0, std::max(1, (c + 1) / 2));
    const int free_slots = stopping_now ? 0 : std::clamp(c + extra - held, 0, std::max(1, (c + extra + 1) / 2));
    auto fetched_from = plan_fetch(ops, free_slots, run_slots);
    if (waker_interrupt_due) {
      ops.wake_waker(waker_key());
      waker_interrupt_due = false;
    }
    if (!unsent.empty() || !ops.empty()) {
      if (!send_call(conn, ops, std::move(fetched_from), free_slots, !done.empty(), t)) return true;
      sent = true;
    }
  }
  if (!in_flight.empty() && (in_flight.size() >= kMaxInFlight || !sent)) {
    receive_call(conn, t);
    return true;
  }
  if (sent) return true;
  // 3. Idle: housekeeping, then sleep until a job ends, a marker pops, or a timer is due. A waker
  // that must watch a queue again is woken first (by a call of its own, next turn).
  if (waker_interrupt_due) return true;
  if (housekeeping(conn, t)) return true;
  sleep_until_due(t);
  return true;
}

void Worker::Impl::note_started(std::string event_text) {
  std::lock_guard lock(mutex);
  if (started_count > 0) started_events.push_back('\n');
  started_events += event_text;
  ++started_count;
  wake.notify_one();  // a long step's start is heard now, not at its end
}

void Worker::Impl::return_memory() {
  memory_to_return = false;
  const auto start = Clock::now();
  malloc_trim(0);
  log->debug("returned free memory to the system in {} us",
             std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
}

std::deque<Worker::Impl::Finished> Worker::Impl::collect_finished(std::size_t& running) {
  std::deque<Finished> done;
  std::unique_lock lock(mutex);
  if (!finished.empty() && finished.size() < held_active()) {
    // Jobs that take microseconds end in bursts: a moment's wait lets one call finish the
    // whole burst instead of one call per job. Bounded, so slow jobs lose nothing. (Jobs held
    // for a slot, worker_prefetch.cpp, are tracked as active but do not run.)
    wake.wait_for(lock, options.burst_wait, [&] { return finished.size() >= held_active(); });
  }
  done.swap(finished);
  if (started_count > 0) {
    // A group of its own, ahead of the groups of the steps that ended (queued after this): a
    // run's processor:started always comes before its step's end in the stream.
    unsent.push_back(OpGroup{"G", "E", std::to_string(started_count), std::move(started_events)});
    started_events.clear();
    started_count = 0;
  }
  for (const auto& f : done) {
    // Its lock stays ours, and renewed, until Redis has recorded its end. (Only its own: a rerun
    // given back unstarted has the token of another fetch than the run in `active`.)
    if (auto it = active.find(f.job.key()); it != active.end() && it->second.token == f.job.token) {
      unsent_locks.insert_or_assign(it->first, std::move(it->second));
      active.erase(it);
      if (f.binding->instance == nullptr && joins_merging > 0) --joins_merging;
    }
  }
  running = held_active();
  for (const auto& key : signalled) {
    if (auto it = bindings.find(key); it != bindings.end()) it->second->maybe_ready = true;
  }
  signalled.clear();
  for (const auto& [key, due] : signalled_due) {
    if (auto it = bindings.find(key); it != bindings.end()) {
      long long& next = it->second->next_due;
      if (next < 0 || due < next) next = due;
    }
  }
  signalled_due.clear();
  return done;
}

bool Worker::Impl::wind_down(LoopTimers& t, std::size_t running, bool nothing_done) {
  if (t.stop_deadline == Clock::time_point{}) {
    t.stop_deadline = Clock::now() + options.grace;
    log->info("worker {} stopping: no new jobs; {} active job(s) get {} ms to finish", options.name, running,
              options.grace.count());
  }
  if (!t.grace_over && Clock::now() >= t.stop_deadline) {
    t.grace_over = true;
    std::lock_guard lock(mutex);
    if (!active.empty()) log->warn("grace period over: returning {} active job(s) to their queues", active.size());
    for (auto& [key, a] : active) a.cancel->cancel("worker shutting down");
  }
  if (running == 0 && nothing_done) {
    if (unsent.empty() && feeding.empty()) return false;
    if (t.grace_over) {
      log->warn("stopping with {} finished job(s) Redis has not recorded: stalled-job recovery runs them again",
                unsent.size() + feeding.size());
      return false;
    }
  }
  return true;
}

std::vector<std::shared_ptr<Worker::Impl::Binding>> Worker::Impl::plan_fetch(OpList& ops, int free_slots,
                                                                             int run_slots) {
  std::vector<std::shared_ptr<Binding>> fetched_from;
  if (free_slots <= 0) return fetched_from;
  const long long now = now_ms();
  for (auto& [keys, b] : bindings) {
    if ((b->next_due >= 0 && b->next_due <= now) || (b->skipped && now >= b->skip_promote_at)) {
      ops.promote(keys);
      b->skip_promote_at = now + kSkipPromoteMs;
    }
  }
  // Start at another queue each call, so that when free slots are few every queue gets its turn.
  std::vector<std::shared_ptr<Binding>> order;
  for (auto& [keys, b] : bindings) order.push_back(b);
  if (!order.empty()) {
    std::rotate(order.begin(), order.begin() + static_cast<long>(++fetch_rotation % order.size()), order.end());
  }
  for (auto& b : order) {
    if (b->limited_until > now) continue;
    b->limited_until = -1;
    if (!b->maybe_ready || b->disabled_until > Clock::now()) continue;
    const bool join = b->instance == nullptr;
    const bool ahead = !join && may_prefetch(*b);
    const int slots = join ? options.concurrency : ahead ? free_slots : run_slots;
    if (slots <= 0 || (b->held_back && run_slots <= 0)) continue;
    Fetch f{.queue = b->keys, .count = slots, .with_children = join};
    if (!join) {
      f.startable = run_slots;  // shared by the call's step fetches (lua/step_fetch.lua)
      f.concurrency = b->instance->policy.concurrency;
      f.rate = b->instance->policy.rate;
    }
    ops.fetch(f);
    fetched_from.push_back(b);
  }
  return fetched_from;
}

bool Worker::Impl::housekeeping_due(const LoopTimers& t) const {
  const auto now = Clock::now();
  return now >= t.renew || now >= t.stalled || now >= t.cancel_refresh || now >= t.beat;
}

bool Worker::Impl::housekeeping(Connection& conn, LoopTimers& t) {
  const auto now = Clock::now();
  if (now >= t.renew) {
    renew_locks(conn);
    t.renew = now + options.lock_duration / 4;
  }
  if (now >= t.stalled) {
    stalled_check(conn);
    t.stalled = now + options.stalled_interval;
  }
  if (now >= t.cancel_refresh) {
    refresh_cancelled(conn);
    claim_schedules(conn);
    t.cancel_refresh = now + options.cancel_refresh;
  }
  if (now >= t.beat) {
    heartbeat(conn, true);
    announce();
    t.beat = now + options.heartbeat_interval;
  }
  if (now >= t.poll) {
    // Safety poll: another client may have taken a marker meant for us (wake-up or delay).
    for (auto& [keys, b] : bindings) {
      b->maybe_ready = true;
      if (b->next_due < 0) b->next_due = now_ms();
    }
    t.poll = now + options.idle_poll;
    return true;
  }
  return false;
}

void Worker::Impl::sleep_until_due(const LoopTimers& t) {
  auto until = std::min({t.renew, t.stalled, t.cancel_refresh, t.beat, t.poll});
  long long earliest_due = -1;
  const long long now = now_ms();
  for (auto& [keys, b] : bindings) {
    if (b->next_due >= 0 && (earliest_due < 0 || b->next_due < earliest_due)) earliest_due = b->next_due;
    // a window already open waits for a free slot, not for the clock
    if (b->limited_until > now && (earliest_due < 0 || b->limited_until < earliest_due)) {
      earliest_due = b->limited_until;
    }
  }
  if (earliest_due >= 0) {
    until = std::min(until, Clock::now() + std::chrono::milliseconds(std::max(0LL, earliest_due - now_ms())));
  }
  if (stopping.load()) until = std::min(until, t.stop_deadline);
  std::unique_lock lock(mutex);
  wake.wait_until(lock, until, [&] {
    return !finished.empty() || started_count > 0 || !signalled.empty() || served_version != bindings_version ||
           (stopping.load() && t.stop_deadline == Clock::time_point{});
  });
}

}  // namespace am2z::redis
