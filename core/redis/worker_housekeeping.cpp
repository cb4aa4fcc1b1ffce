// The worker's housekeeping: waking on queue markers, renewing locks, recovering stalled jobs,
// following cancellations and beating its heartbeat.
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "core/redis/schedules.hpp"
#include "core/redis/scripts.hpp"
#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

using namespace detail;

namespace {}  // namespace

void Worker::Impl::waker_loop(Connection& blocker) {
  const double seconds = static_cast<double>(options.idle_poll.count()) / 1000.0;
  std::uint64_t version = 0;
  std::uint64_t skip_version = 0;
  std::vector<std::string> args;
  std::size_t served = 0;
  const std::string own_key = waker_key();
  auto backoff = options.redis_backoff_min;
  while (!stopping.load()) {
    // A flow added or removed meanwhile: block on the markers of what is served now.
    // ... or the queues whose markers it may leave alone changed.
    const bool changed = [&] {
      std::lock_guard lock(mutex);
      served = served_bindings.size();
      return served_version != version || waker_skip_version != skip_version;
    }();
    if (args.empty() || changed) {
      args = {"BZPOPMIN"};
      for (auto& key : marker_keys(version, skip_version)) args.push_back(std::move(key));
      args.push_back(own_key);
      args.push_back(std::to_string(seconds));
    }
    if (served == 0) {  // no queue served: wait for one
      std::unique_lock lock(mutex);
      waker_wake.wait_for(lock, options.idle_poll, [&] { return stopping.load() || served_version != version; });
      continue;
    }
    auto r = blocker.command(args, options.idle_poll + options.block_margin);
    if (!r) {
      log->warn("redis: marker wait failed ({}); retrying", r.error().message);
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, options.redis_backoff_max);
      continue;
    }
    backoff = options.redis_backoff_min;
    if (r->is_array() && r->elements.size() >= 3 && r->elements[0].str != own_key) {
      std::string key = r->elements[0].str;
      key.resize(key.size() - std::string("marker").size());
      std::lock_guard lock(mutex);
      signalled.insert(key);
      if (r->elements[1].str == "1") {
        // a delayed job is due then: the dispatcher promotes it (it owns the bindings)
        signalled_due[key] = std::strtoll(r->elements[2].str.c_str(), nullptr, 10);
      }
      wake.notify_one();
    }
  }
}

void Worker::Impl::update_waker_skip(bool stopping_now) {
  // A full queue is fetched again at the dispatcher's next call, whenever a slot frees: unless a
  // limit holds it back or a corrupt key has it skipped for a while.
  const auto now = Clock::now();
  bool changed = false;
  for (auto& [keys, b] : bindings) {
    const bool skip = !stopping_now && b->full && b->limited_until < 0 && b->disabled_until <= now;
    changed = changed || skip != b->skipped;
    b->skipped = skip;
  }
  if (!changed) return;
  std::set<std::string> skip;
  for (auto& [keys, b] : bindings) {
    if (b->skipped) skip.insert(keys);
  }
  std::lock_guard lock(mutex);
  if (skip == waker_skip) return;
  // Blocked while leaving out a queue that is to be watched now: only a call can wake it.
  for (const auto& k : waker_skipping) {
    if (!skip.contains(k)) waker_interrupt_due = true;
  }
  waker_skip = std::move(skip);
  ++waker_skip_version;
}

void Worker::Impl::refresh_cancelled(Connection& c) {
  const std::string since = std::to_string(now_ms() - options.cancelled_window.count());
  auto r = c.command({"ZRANGEBYSCORE", space.cancelled_runs(), since, "+inf"});
  if (!r || !r->is_array()) return;
  std::unordered_set<std::string> runs;
  for (const auto& e : r->elements) runs.insert(e.str);
  std::vector<std::shared_ptr<CancelSource>> to_cancel;
  {
    std::lock_guard lock(mutex);
    for (auto& [key, a] : active) {
      if (runs.contains(a.run) && !cancelled_runs.contains(a.run)) to_cancel.push_back(a.cancel);
    }
  }
  {
    std::lock_guard lock(mutex);
    cancelled_runs = std::move(runs);
  }
  for (auto& c2 : to_cancel) c2->cancel("the run was cancelled by its submitter");
}

void Worker::Impl::claim_schedules(Connection& c) {
  // A due schedule is claimed by whichever worker's call gets there first (op "K"): the others'
  // plans are refused whole. Schedules of flows not served here wait for a worker that serves them.
  auto due = due_schedules(c, space, now_ms(), 16);
  if (!due) return;  // Redis away: the next tick asks again
  OpList ops;
  for (const std::string& id : *due) {
    auto s = read_schedule(c, space, id);
    if (!s || !*s) continue;
    const Schedule& schedule = **s;
    std::shared_ptr<const PlannedFlow> flow;
    for (const auto& [keys, b] : bindings) {
      if (b->flow->flow().name == schedule.flow) flow = b->flow;
    }
    if (!flow) continue;
    const long long now = now_ms();
    auto next = occurrence_after(schedule, now);
    if (!next || *next < 0) {
      log->warn("schedule {} has no next occurrence: {}", id, next ? "its cron never matches" : next.error().message);
      continue;
    }
    if (auto st = plan_occurrence(*flow, schedule, schedule.next_ms, *next, now, ops); !st) {
      log->error("schedule {} skipped: {}", id, st.error().message);
    }
  }
  queue_groups(ops.take_fed_groups());
}

void Worker::Impl::renew_locks(Connection& c) {
  std::vector<std::string> args{std::to_string(options.lock_duration.count())};
  const auto due = Clock::now() - options.lock_duration / 2;
  {
    std::lock_guard lock(mutex);
    for (auto& [key, a] : active) {
      if (a.renewed > due) continue;
      args.insert(args.end(), {a.lock_key, a.token, a.stalled_key, a.id});
      a.renewed = Clock::now();
    }
  }
  for (auto& [key, a] : unsent_locks) {  // the dispatcher's own: no lock needed
    if (a.renewed > due) continue;
    args.insert(args.end(), {a.lock_key, a.token, a.stalled_key, a.id});
    a.renewed = Clock::now();
  }
  for (auto& [key, r] : reruns) {  // likewise
    if (r.renewed > due) continue;
    args.insert(args.end(),
                {lock_key(r.job.queue, r.job.id), r.job.token, queue_key(r.job.queue, "stalled"), r.job.id});
    r.renewed = Clock::now();
  }
  if (args.size() == 1) return;
  auto r = run_script(c, ScriptId::extend_locks, args);
  if (!r) {
    log->warn("redis: lock renewal failed: {}", r.error().message);
    return;
  }
  for (const auto& lost : r->elements) log->warn("lost the lock of job {}: another worker may run it", lost.str);
}

void Worker::Impl::stalled_check(Connection& c) {
  std::vector<std::string> args{std::to_string(now_ms()), std::to_string(options.stalled_interval.count()),
                                std::to_string(options.max_stalled), std::to_string(options.max_events)};
  for (const auto& [keys, b] : bindings) args.push_back(keys);
  if (bindings.empty()) return;
  auto r = run_script(c, ScriptId::stalled, args);
  if (!r) {
    log->warn("redis: stalled-job check failed: {}", r.error().message);
    return;
  }
  for (const auto& moved : r->elements)
    log->warn("job {} stalled (its worker stopped renewing its lock): it runs again", moved.str);
}

void Worker::Impl::announce() {
  constexpr std::size_t kMaxNamed = 64;  // beyond that, the heartbeat key alone says who serves
  // Follow the served queues: a removed flow's connections close, an added one's open.
  std::erase_if(named, [&](const auto& kv) {
    return std::none_of(bindings.begin(), bindings.end(), [&](const auto& b) { return b.second->name == kv.first; });
  });
  std::string who = options.name;
  std::replace(who.begin(), who.end(), ':', '-');  // BullMQ splits these names at ':'
  for (const auto& [keys, b] : bindings) {
    if (named.size() == kMaxNamed) break;
    if (named.contains(b->name)) continue;
    ConnectOptions o;
    o.client_name = space.worker_client_name(b->name, who);
    named.emplace(b->name, std::make_unique<Connection>(options.endpoint, o));
  }
  for (auto& [name, c] : named) (void)c->command({"PING"});  // (re)connects after a Redis restart
}

void Worker::Impl::heartbeat(Connection& c, bool alive) {
  const std::string key = space.worker(options.name);
  if (!alive) {
    (void)c.command({"DEL", key});
    return;
  }
  Json queues = Json::array();
  for (const auto& [keys, b] : bindings) queues.push_back(b->name);
  const std::size_t running = running_steps();
  static const std::string host = [] {
    char name[256] = {};
    return ::gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string();
  }();
  Json beat{{"name", options.name},
            {"host", host},
            {"pid", getpid()},
            {"concurrency", options.concurrency},
            {"queues", std::move(queues)},
            {"prefix", options.prefix},
            {"started", started_ms},
            {"seen", now_ms()},
            {"active", running},
            {"completed", stats->completed.load()},
            {"failed", stats->failed.load()},
            {"retried", stats->retried.load()}};
  const auto sent = Clock::now();
  auto reply = c.command({"SET", key, beat.dump(), "PX", std::to_string(options.heartbeat_ttl.count())});
  tell_redis_call("heartbeat", sent, reply && !reply->is_error());
}

}  // namespace am2z::redis
