#include "core/redis/event_stream.hpp"

#include <algorithm>

#include "core/events.hpp"
#include "core/json_limits.hpp"

namespace am2z::redis {

namespace {

/// Whether `text` is written as is inside a JSON string (no escape needed).
bool plain(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  });
}

/// Keeps the events of a filter's run and session. An event is parsed only when its text holds
/// `"runId":"<run>"` (and likewise the session): a follower of one run on a busy stream skips
/// the others' events without parsing them. The member is then checked on the parsed object.
class EventMatcher {
 public:
  explicit EventMatcher(const EventFilter& filter) : filter_(filter) {
    if (!filter.run.empty() && plain(filter.run)) run_needle_ = R"("runId":")" + filter.run + '"';
    if (!filter.session.empty() && plain(filter.session)) session_needle_ = R"("sessionId":")" + filter.session + '"';
  }

  /// `by_fields`: an older entry's event, already matched by its "run" and "sess" fields.
  void add(std::string_view text, EventBatch& batch, bool by_fields = false) const {
    if (text.empty()) return;
    if (!by_fields) {
      if (!run_needle_.empty() && text.find(run_needle_) == std::string_view::npos) return;
      if (!session_needle_.empty() && text.find(session_needle_) == std::string_view::npos) return;
    }
    auto event = parse_outside_json(text, JsonLimits{.max_bytes = 16u << 20});
    if (!event || !event->is_object()) {
      ++batch.skipped;
      return;
    }
    if (!by_fields &&
        (!member_is(*event, "runId", filter_.run) || !member_is(*event, "sessionId", filter_.session))) {
      return;
    }
    batch.events.push_back(std::move(*event));
  }

 private:
  /// An empty `want` matches anything.
  static bool member_is(const Json& event, const char* name, const std::string& want) {
    if (want.empty()) return true;
    const auto it = event.find(name);
    return it != event.end() && it->is_string() && it->get_ref<const std::string&>() == want;
  }

  const EventFilter& filter_;
  std::string run_needle_, session_needle_;
};

}  // namespace


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
  const EventMatcher match(filter);
  for (const Reply& entry : stream.elements[1].elements) {
    if (entry.elements.size() != 2) continue;
    batch.last_id = entry.elements[0].str;
    const auto& fields = entry.elements[1].elements;
    std::string_view run, session;  // of the older entries' next "e"
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
      const std::string& name = fields[i].str;
      const std::string& value = fields[i + 1].str;
      if (name == "ev") {
        // the events of one step-script call, one JSON text per line, in order
        std::string_view rest = value;
        while (!rest.empty()) {
          const auto nl = rest.find('\n');
          match.add(rest.substr(0, nl), batch);
          rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        }
      } else if (name == "run") {  // entries of am2z before 0.2: "run", "sess", "e" per event
        run = value;
      } else if (name == "sess") {
        session = value;
      } else if (name == "e") {
        if (!filter.run.empty() && run != filter.run) continue;
        if (!filter.session.empty() && session != filter.session) continue;
        match.add(value, batch, /*by_fields=*/true);
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
