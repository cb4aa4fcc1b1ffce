#pragma once
// Per-processor execution policy: timeout, retries, concurrency and rate limits.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/cancel.hpp"
#include "core/error.hpp"

namespace am2z {

/// When and how often a failed attempt is tried again.
struct RetryPolicy {
  int attempts = 1;                          ///< total attempts, 1 = no retry
  Millis initial_backoff{100};               ///< delay before the second attempt
  double multiplier = 2.0;                   ///< growth of the delay per further attempt
  Millis max_backoff{30000};                 ///< cap on one delay
  double jitter = 0.0;                       ///< 0..1: delay is scaled by a random factor in [1-j, 1+j]
  std::vector<std::string> on_codes;         ///< error codes that retry
  std::vector<ErrorCategory> on_categories;  ///< error categories that retry
  /// With neither list set, errors marked retryable retry.
  bool should_retry(const Error& e) const;
  /// Delay after the `failed_attempt`-th attempt (1-based), jitter applied with `unit_random` in [0,1).
  Millis backoff_after(int failed_attempt, double unit_random) const;
};

/// At most `count` starts per `per` window (a rate such as 100/min).
struct RateLimit {
  int count = 0;  ///< 0 = unlimited
  Millis per{60000};
};

/// BullMQ's largest job priority (1 runs first); 0 means none.
inline constexpr long long kMaxPriority = 2097152;

struct StepPolicy {
  std::optional<Millis> timeout;  ///< per attempt
  RetryPolicy retry;
  int concurrency = 0;  ///< simultaneous executions of this processor in one run; 0 = unlimited
  RateLimit rate;
  /// Across workers: the step's jobs wait behind those of a lower number (1..kMaxPriority; 0
  /// none). In-process a step is never queued, so it has no effect there.
  long long priority = 0;
  /// Each time the step is reached it starts this much later (in-process too).
  Millis delay{0};
  bool is_plain() const {
    return !timeout && retry.attempts <= 1 && concurrency == 0 && rate.count == 0 && delay.count() == 0;
  }
};

}  // namespace am2z
