#pragma once
// Reading the events stream (KeySpace::events) from any process: what `run --redis --events`
// follows for its run and what `am2z events` prints, filtered by session or run.
#include <optional>
#include <string>
#include <vector>

#include "core/cancel.hpp"
#include "core/json.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/key_space.hpp"

namespace am2z::redis {

/// Which events to keep; an empty field matches every run or session.
struct EventFilter {
  std::string session;
  std::string run;
};

/// Events read, in stream order, and where the next read starts.
struct EventBatch {
  std::vector<Json> events;  ///< each as the run's --events writes it
  std::string last_id;       ///< the id of the last entry read (kept or not)
  std::size_t skipped = 0;   ///< events whose payload was not a JSON object (written by something else)
};

/// The id of the newest entry, "0-0" when the stream is empty: read after it to see only what
/// comes next.
Result<std::string> newest_event_id(Connection& c, const KeySpace& keys);

/// The events matching `filter` in up to `count` entries (each up to 500 events) after
/// `after_id` ("0-0": from the oldest kept);
/// waits up to `block` for the first one when there is none yet (nullopt: does not wait).
Result<EventBatch> read_events(Connection& c, const KeySpace& keys, const std::string& after_id,
                               const EventFilter& filter, std::optional<Millis> block, std::size_t count = 100);

/// Whether `event` is a run's last (flow:completed or flow:failed).
bool is_final_event(const Json& event);

}  // namespace am2z::redis
