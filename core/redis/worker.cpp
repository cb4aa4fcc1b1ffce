#include "core/redis/worker.hpp"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "core/redis/scripts.hpp"
#include "core/redis/worker_impl.hpp"
#include "core/task_pool.hpp"

namespace am2z::redis {

using namespace detail;

namespace {

/// The job a group of operations finishes: "G", op, queue, id, ...; "" for a submission's group.
std::string group_job_key(const OpGroup& g) {
  if (g.size() < 4 || (g[1] != "C" && g[1] != "F" && g[1] != "R")) return {};
  return g[2] + g[3];
}

}  // namespace

Result<std::unique_ptr<Worker>> Worker::create(WorkerOptions options,
                                               std::vector<std::shared_ptr<const PlannedFlow>> flows) {
  auto impl = std::make_unique<Impl>();
  impl->log = options.logger ? options.logger : spdlog::default_logger();
  if (options.name.empty()) {
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    options.name = std::string(host) + ":" + std::to_string(getpid());
  }
  impl->token_base = options.name + ":" + std::to_string(now_ms());
  impl->space = KeySpace(options.prefix);
  for (const auto& flow : flows) {
    const KeySpace& layout = flow->keys();
    if (layout.prefix() != options.prefix) {
      return fail(errors::configuration("flows", "flow '" + flow->flow().name + "' was planned for prefix '" +
                                                     layout.prefix() + "', the worker serves '" + options.prefix + "'"));
    }
    auto add = [&](std::string name, std::shared_ptr<const ProcessorInstance> inst) -> Status {
      const std::string keys = layout.queue(name);
      if (auto it = impl->bindings.find(keys); it != impl->bindings.end()) {
        if (it->second->instance == inst && it->second->flow == flow) return {};
        return fail(errors::configuration(
            "flows", "queue '" + name + "' is claimed twice: by flow '" + it->second->flow->flow().name + "' (" +
                         it->second->flow->flow().source + ") and by '" + flow->flow().source + "'"));
      }
      auto b = std::make_unique<Binding>();
      b->name = std::move(name);
      b->keys = keys;
      b->flow = flow;
      b->instance = std::move(inst);
      b->planner = std::make_unique<Planner>(*flow);
      impl->bindings.emplace(keys, std::move(b));
      return {};
    };
    for (const auto& entry : flow->entries()) {
      if (entry.node->kind() != NodeKind::processor) continue;
      const auto& inst = static_cast<const ProcessorNode*>(entry.node)->instance_ptr();
      if (inst->remote_queue()) continue;  // done by other workers, on the queue it names
      if (auto st = add(layout.processor_queue(flow->flow().name, inst->name), inst); !st) return fail(st.error());
    }
    if (auto st = add(layout.join_queue(flow->flow().name), nullptr); !st) return fail(st.error());
  }
  impl->options = std::move(options);
  impl->flows = std::move(flows);
  return std::unique_ptr<Worker>(new Worker(std::move(impl)));
}

Worker::Worker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Worker::~Worker() = default;

WorkerStats Worker::stats() const {
  return WorkerStats{impl_->completed.load(), impl_->failed.load(), impl_->retried.load()};
}

std::vector<std::string> Worker::queues() const {
  std::vector<std::string> out;
  for (const auto& [keys, b] : impl_->bindings) out.push_back(b->name);
  return out;
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

void Worker::Impl::dispatch(FetchedJob job, Binding* b) {
  const std::string run = run_of(job.id);
  auto cancel = std::make_shared<CancelSource>();
  {
    std::lock_guard lock(mutex);
    active.emplace(job.key(), Active{lock_key(job.queue, job.id), job.token, queue_key(job.queue, "stalled"), job.id, run, Clock::now(),
                                     cancel});
  }
  const ProcessorInstance& inst = *b->instance;
  // Instant steps on small jobs take microseconds: a thread hand-off would cost more. A big job
  // is decoded on the pool, so the dispatcher keeps renewing locks meanwhile.
  constexpr std::size_t kInlineBytes = 64 * 1024;
  const bool small = job.field("data").size() + job.field("opts").size() < kInlineBytes;
  if (small && inst.impl->instant() && !inst.policy.timeout && !inst.concurrency && !inst.rate) {
    run_leaf(std::move(job), b);
  } else {
    TaskPool::shared().submit([this, b, j = std::move(job)]() mutable { run_leaf(std::move(j), b); });
  }
}

bool Worker::Impl::accept_reply(const Reply& reply, const std::vector<Binding*>& fetched_from, int fetch_budget) {
  auto decoded = decode_step_reply(reply);
  if (!decoded) {
    log->error("{}", decoded.error().message);
    return false;
  }
  for (const auto& [group, code] : decoded->refused) {
    log->warn("a finished job was not recorded (code {}): this worker no longer owned it", code);
  }
  for (const auto& [q, due] : decoded->next_due) {
    if (auto it = bindings.find(q); it != bindings.end()) it->second->next_due = due;
  }
  std::map<std::string, int> per_queue;
  for (const auto& job : decoded->jobs) ++per_queue[job.queue];
  // The script fetched from the queues in this order, step queues drawing on one budget: a step
  // queue it reached with budget left and found empty is empty; one it never reached is not.
  int left = fetch_budget;
  for (Binding* b : fetched_from) {
    const int got = per_queue[b->keys];
    const bool examined = b->instance == nullptr || left > 0;
    if (b->instance != nullptr) left -= got;
    if (examined) b->maybe_ready = got > 0;
  }
  OpList join_ops;
  bool joins = false;
  for (auto& job : decoded->jobs) {
    auto it = bindings.find(job.queue);
    if (it == bindings.end()) continue;
    if (it->second->instance == nullptr) {
      // Joins only merge results: settled here, their continuations sent with the next call.
      settle_join(job, it->second.get(), join_ops);
      joins = true;
    } else {
      dispatch(std::move(job), it->second.get());
    }
  }
  for (auto& g : join_ops.take_groups()) unsent.push_back(std::move(g));
  if (joins) {
    for (auto& [keys, b] : bindings) b->maybe_ready = true;
  }
  return !decoded->jobs.empty();
}

void Worker::Impl::isolate_failure(Connection& c, const std::vector<Binding*>& fetched_from) {
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
      {"wait", "list"},   {"active", "list"},   {"prioritized", "zset"}, {"delayed", "zset"}, {"marker", "zset"},
      {"meta", "hash"},   {"completed", "zset"}, {"failed", "zset"},     {"events", "stream"}, {"stalled", "set"},
      {"waiting-children", "zset"}};
  for (Binding* b : fetched_from) {
    std::vector<std::vector<std::string>> probes;
    for (const auto& [suffix, type] : kKeyTypes) probes.push_back({"TYPE", b->keys + suffix});
    auto types = c.pipeline(probes);
    if (!types) return;
    for (std::size_t i = 0; i < kKeyTypes.size() && i < types->size(); ++i) {
      const std::string& t = (*types)[i].str;
      if (t != "none" && t != kKeyTypes[i].second) {
        log->error("queue {} cannot be served: key {}{} is a {}, not a {}; skipping it for 30 s", b->name, b->keys,
                   kKeyTypes[i].first, t, kKeyTypes[i].second);
        b->disabled_until = Clock::now() + std::chrono::seconds(30);
        break;
      }
    }
  }
}

Status Worker::Impl::serve(const CancelToken& stop) {
  Connection conn(options.endpoint, ConnectOptions{});
  if (auto st = conn.connect(); !st) return st;
  ConnectOptions blocking;
  blocking.command_timeout = options.idle_poll + std::chrono::milliseconds(2000);
  Connection blocker(options.endpoint, blocking);
  if (auto st = blocker.connect(); !st) return st;
  log->info("worker {} serving {} queue(s) on {} with concurrency {}", options.name, bindings.size(),
            options.endpoint.display(), options.concurrency);
  for (const auto& [keys, b] : bindings) log->debug("queue {}", b->name);

  CancelRegistration on_stop = stop.on_cancel([this] {
    stopping.store(true);
    std::lock_guard lock(mutex);
    wake.notify_all();
  });
  if (stop.cancelled()) stopping.store(true);
  std::thread waker([this, &blocker] { waker_loop(blocker); });

  heartbeat(conn, true);
  announce();
  refresh_cancelled(conn);
  auto next_beat = Clock::now() + std::chrono::seconds(5);
  auto next_cancel_refresh = Clock::now() + std::chrono::seconds(1);
  auto next_renew = Clock::now() + options.lock_duration / 4;
  auto next_stalled = Clock::now();
  auto next_poll = Clock::now() + options.idle_poll;
  Clock::time_point stop_deadline{};
  bool grace_over = false;
  std::chrono::milliseconds redis_backoff{50};

  for (;;) {
    // 1. Collect what ended, and decide what to fetch.
    std::deque<Finished> done;
    std::size_t running = 0;
    {
      std::unique_lock lock(mutex);
      if (!finished.empty() && finished.size() < active.size()) {
        // Jobs that take microseconds end in bursts: a moment's wait lets one call finish the
        // whole burst instead of one call per job. Bounded, so slow jobs lose nothing.
        wake.wait_for(lock, std::chrono::microseconds(300), [&] { return finished.size() >= active.size(); });
      }
      done.swap(finished);
      for (const auto& f : done) {
        // Its lock stays ours, and renewed, until Redis has recorded its end.
        if (auto it = active.find(f.job.key()); it != active.end()) {
          unsent_locks.insert_or_assign(it->first, std::move(it->second));
          active.erase(it);
        }
      }
      running = active.size();
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
    }
    const bool stopping_now = stopping.load();
    if (stopping_now && stop_deadline == Clock::time_point{}) {
      stop_deadline = Clock::now() + options.grace;
      log->info("worker {} stopping: no new jobs; {} active job(s) get {} ms to finish", options.name, running,
                options.grace.count());
    }
    if (stopping_now && !grace_over && Clock::now() >= stop_deadline) {
      grace_over = true;
      std::lock_guard lock(mutex);
      if (!active.empty()) log->warn("grace period over: returning {} active job(s) to their queues", active.size());
      for (auto& [key, a] : active) a.cancel->cancel("worker shutting down");
    }
    if (stopping_now && running == 0 && done.empty()) {
      if (unsent.empty()) break;
      if (grace_over) {
        log->warn("stopping with {} finished job(s) Redis has not recorded: stalled-job recovery runs them again",
                  unsent.size());
        break;
      }
    }

    OpList ops;
    for (auto& f : done) finish_ops(f, ops);
    for (auto& g : ops.take_groups()) unsent.push_back(std::move(g));
    // -c bounds the step jobs this worker holds locked: running ones and those whose end is unsent.
    const int held = static_cast<int>(running + unsent_locks.size());
    const int free_slots = stopping_now ? 0 : std::max(0, options.concurrency - held);
    const long long now = now_ms();
    std::vector<Binding*> fetched_from;
    if (free_slots > 0) {
      for (auto& [keys, b] : bindings) {
        if (b->next_due >= 0 && b->next_due <= now) ops.promote(keys);
      }
      // Start at another queue each call, so that when free slots are few every queue gets its turn.
      std::vector<Binding*> order;
      for (auto& [keys, b] : bindings) order.push_back(b.get());
      if (!order.empty()) {
        std::rotate(order.begin(), order.begin() + static_cast<long>(++fetch_rotation % order.size()), order.end());
      }
      for (Binding* b : order) {
        if (!b->maybe_ready || b->disabled_until > Clock::now()) continue;
        const bool join = b->instance == nullptr;
        ops.fetch(Fetch{b->keys, join ? options.concurrency : free_slots, join});
        fetched_from.push_back(b);
      }
    }
    // 2. One call: finish, continue, fetch.
    if (unsent.empty() && ops.empty()) {
      // nothing to say to Redis: housekeeping and sleep below
    } else {
      std::vector<std::string> argv = step_header(now, free_slots);
      for (const auto& g : unsent) argv.insert(argv.end(), g.begin(), g.end());
      ops.append_to(argv);
      auto reply = run_script(conn, ScriptId::step, argv);
      if (!reply) {
        if (is_transient(reply.error())) {
          // Redis went away, is loading its data or is out of memory: keep every finished job's
          // operations exactly as built and send them again; their locks are still renewed.
          log->warn("redis: {}; {} finished job(s) kept, retrying in {} ms", reply.error().message, unsent.size(),
                    redis_backoff.count());
        } else {
          // The call itself is wrong: find out which part Redis refuses, keep the rest going.
          log->error("redis: {}", reply.error().message);
          isolate_failure(conn, fetched_from);
        }
        std::this_thread::sleep_for(redis_backoff);
        redis_backoff = std::min(redis_backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      redis_backoff = std::chrono::milliseconds(50);
      unsent.clear();
      unsent_locks.clear();
      if (accept_reply(*reply, fetched_from, free_slots) || !done.empty()) continue;  // busy: go round at once
    }
    // 3. Housekeeping on its own clock.
    const auto t = Clock::now();
    if (t >= next_renew) {
      renew_locks(conn);
      next_renew = t + options.lock_duration / 4;
    }
    if (t >= next_stalled) {
      stalled_check(conn);
      next_stalled = t + options.stalled_interval;
    }
    if (t >= next_cancel_refresh) {
      refresh_cancelled(conn);
      next_cancel_refresh = t + std::chrono::seconds(1);
    }
    if (t >= next_beat) {
      heartbeat(conn, true);
      announce();
      next_beat = t + std::chrono::seconds(5);
    }
    if (t >= next_poll) {
      // Safety poll: another client may have taken a marker meant for us (wake-up or delay).
      for (auto& [keys, b] : bindings) {
        b->maybe_ready = true;
        if (b->next_due < 0) b->next_due = now_ms();
      }
      next_poll = t + options.idle_poll;
      continue;
    }
    // 4. Sleep until a job ends, a marker pops, or a timer is due.
    auto until = std::min({next_renew, next_stalled, next_cancel_refresh, next_beat, next_poll});
    long long earliest_due = -1;
    for (auto& [keys, b] : bindings) {
      if (b->next_due >= 0 && (earliest_due < 0 || b->next_due < earliest_due)) earliest_due = b->next_due;
    }
    if (earliest_due >= 0) {
      until = std::min(until, Clock::now() + std::chrono::milliseconds(std::max(0LL, earliest_due - now_ms())));
    }
    if (stopping.load()) until = std::min(until, stop_deadline);
    std::unique_lock lock(mutex);
    wake.wait_until(lock, until, [&] {
      return !finished.empty() || !signalled.empty() || (stopping.load() && stop_deadline == Clock::time_point{});
    });
  }
  stopping.store(true);
  waker.join();
  heartbeat(conn, false);
  named.clear();
  log->info("worker {} stopped: {} completed, {} failed, {} retried", options.name, completed.load(), failed.load(),
            retried.load());
  return {};
}

}  // namespace am2z::redis
