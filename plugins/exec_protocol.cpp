#include "plugins/exec_protocol.hpp"

#include "core/json_limits.hpp"

namespace am2z {

namespace {

/// The object `text` holds, or discarded: anything else (not JSON, past a limit) is not a message.
Json parse_object(std::string_view text) {
  auto j = parse_outside_json(text);
  return j && j->is_object() ? std::move(*j) : Json(Json::value_t::discarded);
}

}  // namespace

std::optional<Json> reported_error(std::string_view out) {
  Json doc = parse_object(out);
  if (doc.is_discarded() || doc.size() != 1 || !doc.contains("error") || !doc["error"].is_object()) {
    return std::nullopt;
  }
  return std::move(doc["error"]);
}

std::optional<ExecEvent> parse_event(std::string_view text) {
  Json doc = parse_object(text);
  if (doc.is_discarded()) return std::nullopt;
  auto name = doc.find("event");
  if (name == doc.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) return std::nullopt;
  ExecEvent event{name->get<std::string>(), nullptr};
  if (auto data = doc.find("data"); data != doc.end()) event.data = std::move(*data);
  return event;
}

}  // namespace am2z
