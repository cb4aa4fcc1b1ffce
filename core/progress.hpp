#pragma once
// How far a run has got, for a progress display: steps ended and batch items done. The engine
// counts with relaxed atomics only when a display asked for it (RunOptions::progress).
#include <atomic>

namespace am2z {

struct RunProgress {
  std::atomic<long long> steps_done{0};    ///< step attempts that ended for good: succeeded or failed
  std::atomic<long long> steps_failed{0};  ///< of those, the failed ones
  std::atomic<long long> items_total{0};   ///< items of the batches started so far
  std::atomic<long long> items_done{0};    ///< of those, the items that ended
  /// false: steps are not counted (a distributed run's submitter sees only its batches' items).
  std::atomic<bool> counts_steps{true};
};

}  // namespace am2z
