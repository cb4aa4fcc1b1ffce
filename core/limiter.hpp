#pragma once
// Per-processor concurrency and rate limits; waits are cancellable and respect the deadline.
#include <condition_variable>
#include <deque>
#include <mutex>

#include "core/cancel.hpp"
#include "core/policy.hpp"
#include "core/result.hpp"

namespace am2z {

/// Counting semaphore whose acquire gives up on cancellation or deadline.
class ConcurrencyLimiter {
 public:
  explicit ConcurrencyLimiter(int permits) : free_(permits) {}
  Status acquire(const CancelToken& token, Deadline deadline, std::string_view who);
  void release();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int free_;
};

/// At most `count` starts in any sliding window of `per`.
class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}
  Status acquire(const CancelToken& token, Deadline deadline, std::string_view who);

 private:
  std::mutex mutex_;
  RateLimit limit_;
  std::deque<SteadyClock::time_point> starts_;
};

}  // namespace am2z
