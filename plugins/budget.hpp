#pragma once
// The time budget a deadline gave a step, for TimeoutError messages.
#include <chrono>

#include "core/cancel.hpp"

namespace am2z {

/// Milliseconds from `started` to `deadline`, rounded up; 0 when it had already passed.
inline long long budget_ms(Deadline deadline, SteadyClock::time_point started) {
  if (deadline <= started) return 0;
  return std::chrono::ceil<Millis>(deadline - started).count();
}

}  // namespace am2z
