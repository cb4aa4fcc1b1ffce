#include "core/redis/run_events.hpp"

#include "core/state.hpp"

namespace am2z::redis {

void BufferedEvents::publish(const Json& payload) {
  std::lock_guard lock(mutex_);
  events_.push_back(payload);
}

std::vector<Json> BufferedEvents::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(events_, {});
}

void add_run_event(OpList& ops, const Envelope& run, std::string_view name, Json fields) {
  fields["event"] = name;
  fields["ts"] = format_timestamp(SystemClock::now());
  fields["runId"] = run.run;
  fields["sessionId"] = run.session;
  add_stamped_event(ops, run, fields);
}

void add_stamped_event(OpList& ops, const Envelope& run, const Json& payload) {
  ops.event(run.run, run.session, dump_text(payload));
}

}  // namespace am2z::redis
