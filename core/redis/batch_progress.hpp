#pragma once
// A distributed run's progress for its submitter's display: the items of its batches. A batch's
// join job keeps BullMQ's child bookkeeping (lua/step.lua): children still pending in
// <join>:dependencies, succeeded ones in <join>:processed, failed ones in <join>:failed, so three
// O(1) commands per batch tell how many items are done of those queued so far, whatever the
// batch's size, without reading a single job.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/progress.hpp"
#include "core/redis/planner.hpp"
#include "core/redis/redis_url.hpp"

namespace am2z::redis {

/// The join job keys of the batches of `flow` in run `run_id` that are not inside another batch
/// (a nested batch has a join per item of the outer one).
std::vector<std::string> batch_join_keys(const PlannedFlow& flow, const std::string& run_id);

/// Reads the joins' counts into `progress` (items_total, items_done) every `every`, on a
/// connection and a thread of its own, until destroyed. Counts never go back: a join whose keys
/// were removed once it ended keeps its last counts. A failed read is skipped (the display is
/// not worth a warning); the next one tries again. It counts no steps: the caller sets
/// `progress->counts_steps` to false before showing it.
class BatchProgressPoller {
 public:
  BatchProgressPoller(Endpoint endpoint, std::vector<std::string> join_keys, std::shared_ptr<RunProgress> progress,
                      std::chrono::milliseconds every);
  ~BatchProgressPoller();
  BatchProgressPoller(const BatchProgressPoller&) = delete;
  BatchProgressPoller& operator=(const BatchProgressPoller&) = delete;

 private:
  void loop();

  const Endpoint endpoint_;
  const std::vector<std::string> joins_;
  const std::shared_ptr<RunProgress> progress_;
  const std::chrono::milliseconds every_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace am2z::redis
