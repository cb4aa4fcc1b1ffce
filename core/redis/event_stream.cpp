#include "core/redis/event_stream.hpp"

#include "core/events.hpp"
#include "core/json_limits.hpp"

namespace am2z::redis {


Result<std::string> newest_event_id(Connection& c, const KeySpace& keys) {
  auto r = c.command({"XREVRANGE", keys.events(), "+", "-", "COUNT", "1"});
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::network(keys.events(), 0, r->str));
  if (!r->is_array() || r->elements.empty() || r->elements[0].elements.empty()) return std::string("0-0");
  return r->elements[0].elements[0].str;
}

Result<EventBatch> read_events(Connection& c, const KeySpace& keys, const std::string& after_id,
                               const EventFilter& filter, std::optional<Millis> block, std::size_t count) {
  std::vector<std::string> argv{"XREAD", "COUNT", std::to_string(count)};
  if (block) {
    argv.push_back("BLOCK");
    argv.push_back(std::to_string(block->count()));
  }
  argv.insert(argv.end(), {"STREAMS", keys.events(), after_id});
  // A blocking read may take its whole block: give the socket that long and more.
  auto r = block ? c.command(argv, *block + std::chrono::seconds(5)) : c.command(argv);
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::network(keys.events(), 0, r->str));
  EventBatch batch;
  batch.last_id = after_id;
  if (!r->is_array() || r->elements.empty()) return batch;  // nothing yet (nil after BLOCK)
  const Reply& stream = r->elements[0];
  if (stream.elements.size() != 2) return batch;
  for (const Reply& entry : stream.elements[1].elements) {
    if (entry.elements.size() != 2) continue;
    batch.last_id = entry.elements[0].str;
    // An entry holds the events of one step-script call: "run", "sess", "e" per event, in order.
    const auto& fields = entry.elements[1].elements;
    std::string_view run, session;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
      const std::string& name = fields[i].str;
      const std::string& value = fields[i + 1].str;
      if (name == "run") {
        run = value;
      } else if (name == "sess") {
        session = value;
      } else if (name == "e") {
        if (!filter.run.empty() && run != filter.run) continue;
        if (!filter.session.empty() && session != filter.session) continue;
        auto event = parse_outside_json(value, JsonLimits{.max_bytes = 16u << 20});
        if (!event || !event->is_object()) {
          ++batch.skipped;
          continue;
        }
        batch.events.push_back(std::move(*event));
      }
    }
  }
  return batch;
}

bool is_final_event(const Json& event) {
  const auto it = event.find("event");
  if (it == event.end() || !it->is_string()) return false;
  const auto& name = it->get_ref<const std::string&>();
  return name == event::kFlowCompleted || name == event::kFlowFailed;
}

}  // namespace am2z::redis
