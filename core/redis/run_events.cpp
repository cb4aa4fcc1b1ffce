#include "core/redis/run_events.hpp"

#include <algorithm>

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

namespace {

/// `text` as a JSON string: copied as is when nothing in it needs escaping or checking (the
/// usual ids and names), else through the JSON library (escapes, invalid UTF-8 replaced).
void append_json_string(std::string& out, std::string_view text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  });
  if (plain) {
    out.push_back('"');
    out.append(text);
    out.push_back('"');
  } else {
    out.append(dump_text(Json(std::string(text))));
  }
}

/// An event's JSON text up to its own members: `{"event":...,"runId":...,"sessionId":...`.
/// Events are written as text rather than as one more JSON object to dump: this runs for every
/// step of a run with events on, and those members were most of its cost. Readers parse it;
/// member order carries no meaning.
std::string event_head(std::string_view name, const Envelope& run) {
  std::string text = R"({"event":)";
  append_json_string(text, name);
  text += R"(,"runId":)";
  append_json_string(text, run.run);
  text += R"(,"sessionId":)";
  append_json_string(text, run.session);
  return text;
}

}  // namespace

std::string started_event(const Envelope& run, std::string_view processor, std::string_view type,
                          std::string_view job_id, long long attempt) {
  std::string text = event_head(event::kProcessorStarted, run);
  text += R"(,"processor":)";
  append_json_string(text, processor);
  text += R"(,"type":)";
  append_json_string(text, type);
  text += R"(,"jobId":)";
  append_json_string(text, job_id);
  text += R"(,"ts":")";
  text += format_timestamp(SystemClock::now());
  text += R"(","attempt":)";
  text += std::to_string(attempt);
  text.push_back('}');
  return text;
}

EventMembers& EventMembers::text(std::string_view key, std::string_view value) {
  out_.push_back(',');
  append_json_string(out_, key);
  out_.push_back(':');
  append_json_string(out_, value);
  return *this;
}

EventMembers& EventMembers::number(std::string_view key, long long value) {
  out_.push_back(',');
  append_json_string(out_, key);
  out_.push_back(':');
  out_ += std::to_string(value);
  return *this;
}

EventMembers& EventMembers::json(std::string_view key, const Json& value) {
  out_.push_back(',');
  append_json_string(out_, key);
  out_.push_back(':');
  out_ += dump_text(value);
  return *this;
}

void add_run_event(OpList& ops, const Envelope& run, std::string_view name, const EventMembers& members) {
  std::string text = event_head(name, run);
  text += R"(,"ts":")";
  text += format_timestamp(SystemClock::now());
  text.push_back('"');
  text += members.str();
  text.push_back('}');
  ops.event(std::move(text));
}

void add_run_event(OpList& ops, const Envelope& run, std::string_view name, Json fields) {
  EventMembers members;
  for (const auto& [key, value] : fields.items()) {
    if (key == "event" || key == "ts" || key == "runId" || key == "sessionId") continue;
    members.json(key, value);
  }
  add_run_event(ops, run, name, members);
}

void add_stamped_event(OpList& ops, const Envelope& run, const Json& payload) {
  // Readers find a run's and a session's events by these members: they must be the run's own.
  const auto is = [&payload](const char* name, const std::string& want) {
    const auto it = payload.find(name);
    return it != payload.end() && it->is_string() && it->get_ref<const std::string&>() == want;
  };
  if (is("runId", run.run) && is("sessionId", run.session)) {
    ops.event(dump_text(payload));
    return;
  }
  Json stamped = payload;
  stamped["runId"] = run.run;
  stamped["sessionId"] = run.session;
  ops.event(dump_text(stamped));
}

}  // namespace am2z::redis
