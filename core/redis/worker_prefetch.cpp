// Prefetch: a worker may hold more step jobs than it runs (-c), so that one step-script call
// takes a whole round of jobs instead of half of one. Which jobs may wait for a slot here, and
// when they start. Jobs that wait are locked and tracked as active (their locks renewed, their
// runs' cancellations reachable); a worker that stops gives them back at once.
#include <algorithm>
#include <string_view>

#include "core/redis/blobs.hpp"
#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

using namespace detail;

namespace {

/// Steps that never wait: no timeout to arm, no local limit to queue behind.
bool instant_steps(const ProcessorInstance& inst) {
  return inst.impl->instant() && !inst.policy.timeout && !inst.concurrency && !inst.rate;
}

}  // namespace

bool Worker::Impl::runs_inline(const FetchedJob& job, const Binding& b) {
  // Instant steps on small jobs take microseconds: a thread hand-off would cost more. A big job
  // (its data kept out of line too: it is read first) is decoded on the pool, so the dispatcher
  // keeps renewing locks meanwhile.
  constexpr std::size_t kInlineBytes = 64 * 1024;
  // read in place: this runs for every job fetched
  const auto data = job.fields.find("data");
  const auto opts = job.fields.find("opts");
  const std::string_view text = data == job.fields.end() ? std::string_view() : std::string_view(data->second);
  const std::size_t bytes = text.size() + (opts == job.fields.end() ? 0 : opts->second.size());
  const bool small = bytes < kInlineBytes && !blob_ref(text);
  return small && instant_steps(*b.instance);
}

bool Worker::Impl::may_prefetch(const Binding& b) const {
  if (options.prefetch <= 0 || b.instance == nullptr) return false;
  const ProcessorInstance& inst = *b.instance;
  // a step under a limit across workers would hold a slot of that limit while it waits here
  if (inst.policy.concurrency > 0 || inst.policy.rate.count > 0) return false;
  if (instant_steps(inst)) return true;
  const long long avg = b.step_us.load(std::memory_order_relaxed);
  // short: a job held for a slot then waits about as long as the steps ahead of it take
  return avg >= 0 && avg < options.prefetch_below.count();
}

void Worker::Impl::note_step_time(Binding& b, Clock::duration took) {
  const long long us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  const long long avg = b.step_us.load(std::memory_order_relaxed);
  // One long step is enough to stop prefetching for its queue: the average moves a sixteenth of
  // the way, and a step of a second moves it past the threshold at once. Updates racing on two
  // pool threads may lose one sample, which an average can afford.
  b.step_us.store(avg < 0 ? us : avg + (us - avg) / 16, std::memory_order_relaxed);
}

std::size_t Worker::Impl::started_steps() const {
  const std::size_t other = prefetched.size() + joins_merging;
  return active.size() > other ? active.size() - other : 0;
}

std::size_t Worker::Impl::running_steps() {
  std::lock_guard lock(mutex);
  // and of those, the ones that ended but are not collected yet (a big join that ended is not
  // among the started steps: it counts in joins_merging until collected)
  const std::size_t started = started_steps();
  const auto ended = static_cast<std::size_t>(std::count_if(
      finished.begin(), finished.end(), [](const Finished& f) { return f.binding && f.binding->instance; }));
  return started > ended ? started - ended : 0;
}

void Worker::Impl::take_fetched(FetchedJob job, const std::shared_ptr<Binding>& b) {
  {
    std::lock_guard lock(mutex);
    if (active.contains(job.key())) {
      std::string key = job.key();
      log->warn("job {} was given back while its earlier run still runs here: it starts when that one ends", key);
      // A third copy replaces the second, unstarted: its lock, no longer renewed, lapses.
      reruns.insert_or_assign(std::move(key), Rerun{std::move(job), b, Clock::now()});
      return;
    }
  }
  if (runs_inline(job, *b)) return dispatch(std::move(job), b);  // one at a time, on this thread
  if (prefetched.empty() && running_steps() < static_cast<std::size_t>(options.concurrency)) {
    return dispatch(std::move(job), b);
  }
  track_active(job);
  prefetched.emplace_back(std::move(job), b);
}

void Worker::Impl::start_prefetched() {
  if (prefetched.empty()) return;
  std::size_t running = running_steps();
  while (!prefetched.empty() && running < static_cast<std::size_t>(options.concurrency)) {
    auto [job, b] = std::move(prefetched.front());
    prefetched.pop_front();
    dispatch(std::move(job), b);  // already tracked: its lock has been renewed while it waited
    ++running;
  }
}

void Worker::Impl::start_reruns() {
  std::vector<Rerun> ready;
  {
    std::lock_guard lock(mutex);
    for (auto it = reruns.begin(); it != reruns.end();) {
      if (active.contains(it->first)) {
        ++it;
        continue;
      }
      ready.push_back(std::move(it->second));
      it = reruns.erase(it);
    }
  }
  for (auto& r : ready) take_fetched(std::move(r.job), r.binding);
}

void Worker::Impl::return_prefetched() {
  if (prefetched.empty() && reruns.empty()) return;
  std::lock_guard lock(mutex);
  const auto give_back = [&](FetchedJob job, const std::shared_ptr<Binding>& b) {
    Finished f;
    f.binding = b;
    f.processed_on = now_ms();
    f.attempt = job.number("atm") + 1;
    f.policy = &b->instance->policy.retry;
    f.never_started = true;
    finished.push_back(interrupted(std::move(f), std::move(job)));
  };
  for (auto& [job, b] : prefetched) give_back(std::move(job), b);
  prefetched.clear();
  // A rerun is not in `active` (its earlier run is, under another token): collect_finished
  // leaves that entry alone.
  for (auto& [key, r] : reruns) give_back(std::move(r.job), r.binding);
  reruns.clear();
}

}  // namespace am2z::redis
