#pragma once
// The events of distributed runs that asked for them (Envelope::events): the same JSON objects a
// local run's --events writes, appended to one stream (KeySpace::events) by the scripts that
// record each step, so publishing costs no extra round trip. The worker stamps processor:started
// as the step starts and sends it with its next call.
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

/// An event's own members written straight as JSON text (`,"key":value` each), for the events
/// every step of a run with events on publishes: building them as a JSON object first cost the
/// worker an allocation per member and per value.
class EventMembers {
 public:
  EventMembers& text(std::string_view key, std::string_view value);  ///< a JSON string
  EventMembers& number(std::string_view key, long long value);
  EventMembers& json(std::string_view key, const Json& value);
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

/// As above, with the members as text.
void add_run_event(OpList& ops, const Envelope& run, std::string_view name, const EventMembers& members);

/// processor:started of attempt `attempt` of a step of `run` (job `job_id`), stamped now: the
/// worker publishes it as the step starts (with its next step-script call).
std::string started_event(const Envelope& run, std::string_view processor, std::string_view type,
                          std::string_view job_id, long long attempt);

/// Adds an event already stamped (by the processor's context) to `ops`.
void add_stamped_event(OpList& ops, const Envelope& run, const Json& payload);

}  // namespace am2z::redis
