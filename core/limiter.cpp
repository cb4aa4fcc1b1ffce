#include "core/limiter.hpp"

#include <algorithm>

namespace am2z {

namespace {
/// Waits on `cv` in slices so a cancellation (which does not notify this cv) is seen promptly.
constexpr auto kSlice = std::chrono::milliseconds(5);

Error gave_up(const CancelToken& token, std::string_view who, std::string_view what) {
  if (token.cancelled()) return errors::cancelled(token.reason());
  return errors::cancelled("deadline passed while '" + std::string(who) + "' waited for " + std::string(what));
}
}  // namespace

Status ConcurrencyLimiter::acquire(const CancelToken& token, Deadline deadline, std::string_view who) {
  std::unique_lock lock(mutex_);
  // Cancellation is checked before taking a free slot too: a waiter woken by a release that
  // happened because the run was cancelled must not start its step.
  while (free_ == 0 || token.cancelled()) {
    if (token.cancelled() || SteadyClock::now() >= deadline) return fail(gave_up(token, who, "a concurrency slot"));
    cv_.wait_until(lock, std::min(deadline, SteadyClock::now() + kSlice));
  }
  --free_;
  return {};
}

void ConcurrencyLimiter::release() {
  {
    std::lock_guard lock(mutex_);
    ++free_;
  }
  cv_.notify_one();
}

Status RateLimiter::acquire(const CancelToken& token, Deadline deadline, std::string_view who) {
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto now = SteadyClock::now();
    while (!starts_.empty() && now - starts_.front() >= limit_.per) starts_.pop_front();
    if (starts_.size() < static_cast<std::size_t>(limit_.count)) {
      starts_.push_back(now);
      return {};
    }
    const auto next_free = starts_.front() + limit_.per;
    if (next_free >= deadline) {
      lock.unlock();
      if (token.cancelled()) return fail(errors::cancelled(token.reason()));
      token.wait_until(deadline);
      return fail(gave_up(token, who, "its rate limit"));
    }
    lock.unlock();
    if (token.wait_until(next_free)) return fail(errors::cancelled(token.reason()));
    lock.lock();
  }
}

}  // namespace am2z
