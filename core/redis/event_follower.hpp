#pragma once
// `run --redis --events FILE`: follows one run's events in the stream while the run goes, on a
// thread with its own connection, and hands them to a sink in order, as a local run writes them.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/error.hpp"
#include "core/events.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/key_space.hpp"

namespace am2z::redis {

class RunEventFollower {
 public:
  /// Starts following run `run_id`'s events after stream entry `after_id` (read it with
  /// newest_event_id before submitting, so none is missed).
  RunEventFollower(Endpoint endpoint, KeySpace keys, std::string run_id, std::string after_id,
                   std::shared_ptr<EventSink> sink);
  ~RunEventFollower();
  RunEventFollower(const RunEventFollower&) = delete;
  RunEventFollower& operator=(const RunEventFollower&) = delete;

  /// The run has its outcome: waits (a little) for its last event, then stops. When the run ended
  /// without one (cancelled by its submitter or a session stop, whose outcome no worker wrote),
  /// publishes flow:failed with `error` itself, as a local run would have.
  void finish(const std::optional<Error>& error, const std::string& flow, const std::string& session);

 private:
  void follow();
  Endpoint endpoint_;
  KeySpace keys_;
  std::string run_id_;
  std::string after_id_;
  std::shared_ptr<EventSink> sink_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> saw_final_{false};
  std::thread thread_;
};

}  // namespace am2z::redis
