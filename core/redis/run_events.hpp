#pragma once
// The events of distributed runs that asked for them (Envelope::events): the same JSON objects a
// local run's --events writes, appended to one stream (KeySpace::events) by the scripts that
// record each step, so publishing costs no extra round trip. lua/step.lua writes
// processor:started itself, as the step is taken.
#include <mutex>
#include <string_view>
#include <vector>

#include "core/events.hpp"
#include "core/json.hpp"
#include "core/redis/envelope.hpp"
#include "core/redis/op_list.hpp"

namespace am2z::redis {

/// What a step's processor emits while it runs on a worker (ctx.emit, exec's ::am2z-event),
/// kept until the step is recorded.
class BufferedEvents final : public EventSink {
 public:
  void publish(const Json& payload) override;
  /// Everything published so far, in order; the buffer is left empty.
  std::vector<Json> take();

 private:
  std::mutex mutex_;
  std::vector<Json> events_;
};

/// Adds event `name` of `run` with `fields` to `ops`, stamped now as a local run stamps it.
void add_run_event(OpList& ops, const Envelope& run, std::string_view name, Json fields);

/// processor:started of attempt `attempt` of a step of `run` (job `job_id`), stamped now: the
/// worker publishes it as the step starts (with its next step-script call).
std::string started_event(const Envelope& run, std::string_view processor, std::string_view type,
                          std::string_view job_id, long long attempt);

/// Adds an event already stamped (by the processor's context) to `ops`.
void add_stamped_event(OpList& ops, const Envelope& run, const Json& payload);

}  // namespace am2z::redis
