#pragma once
// Lifecycle and custom events. With no sink attached, nothing is built or formatted.
#include <cstdio>
#include <mutex>
#include <string_view>

#include "core/json.hpp"

namespace am2z {

/// Receives events; implementations must be thread-safe (parallel branches emit concurrently).
class EventSink {
 public:
  virtual ~EventSink() = default;
  /// `payload` already holds "event", "ts" and the event's fields.
  virtual void publish(const Json& payload) = 0;
};

/// Writes each event as one JSON line to a FILE* (stderr or a file), flushed per line.
class JsonLinesSink final : public EventSink {
 public:
  /// Writes to `out`; closes it on destruction when `owned`.
  explicit JsonLinesSink(std::FILE* out, bool owned = false) : out_(out), owned_(owned) {}
  ~JsonLinesSink() override;
  JsonLinesSink(const JsonLinesSink&) = delete;
  JsonLinesSink& operator=(const JsonLinesSink&) = delete;
  void publish(const Json& payload) override;

 private:
  std::FILE* out_;
  bool owned_;
  std::mutex mutex_;
};

/// Event names used by the engine.
namespace event {
inline constexpr std::string_view kFlowStarted = "flow:started";
inline constexpr std::string_view kFlowCompleted = "flow:completed";
inline constexpr std::string_view kFlowFailed = "flow:failed";
inline constexpr std::string_view kProcessorStarted = "processor:started";
inline constexpr std::string_view kProcessorCompleted = "processor:completed";
inline constexpr std::string_view kProcessorFailed = "processor:failed";
inline constexpr std::string_view kProcessorRetrying = "processor:retrying";
}  // namespace event

}  // namespace am2z
