// Fuzz target: what an exec program writes, read the way plugins/exec_processor.cpp reads it.
// The same bytes go through each reader:
//   stdout as the new state  -> parse_outside_json -> State::from_json -> printed and read back;
//   stdout of an exit 3      -> reported_error -> typed_error -> Error::to_json;
//   stderr event lines       -> parse_event on every "::am2z-event " line.
// exec's own parse of stdout is private to its processor class; these are the functions it and
// the next step (local or on another worker) apply to the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/json_limits.hpp"
#include "core/state.hpp"
#include "plugins/exec_protocol.hpp"
#include "plugins/typed_error.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace am2z;

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

/// The new state, and the state the next step reads back from its printed form.
void as_state(std::string_view out) {
  auto parsed = parse_outside_json(out);
  if (!parsed) {
    AM2Z_FUZZ_CHECK(!parsed.error().reason.empty());
    if (parsed.error().offset != std::string_view::npos) {
      AM2Z_FUZZ_CHECK(parsed.error().offset <= out.size());
      line_and_column(out, parsed.error().offset);
    }
    return;
  }
  for (const std::string& session : {std::string(), std::string("fuzz-session")}) {
    auto state = State::from_json(*parsed, session);
    if (!state) {
      AM2Z_FUZZ_CHECK(!fuzz::printed(state.error().to_json()).empty());
      continue;
    }
    AM2Z_FUZZ_CHECK(state->data.is_object() && !state->data.contains("metadata"));
    if (state->meta.session_id.empty()) continue;  // steps always run with a session
    // Parsed strings are valid UTF-8, so printing is exact and the next step reads the same state.
    const std::string printed = state->to_json().dump();
    auto again = parse_outside_json(printed);
    AM2Z_FUZZ_CHECK(again.has_value());
    auto next = State::from_json(std::move(*again), "");
    AM2Z_FUZZ_CHECK(next.has_value());
    AM2Z_FUZZ_CHECK(next->data == state->data);
    AM2Z_FUZZ_CHECK(next->meta.session_id == state->meta.session_id);
    AM2Z_FUZZ_CHECK(next->meta.version == state->meta.version);
    // Timestamps travel with millisecond precision.
    AM2Z_FUZZ_CHECK(format_timestamp(next->meta.created_at) == format_timestamp(state->meta.created_at));
    AM2Z_FUZZ_CHECK(format_timestamp(next->meta.last_updated) == format_timestamp(state->meta.last_updated));
  }
}

void as_typed_error(std::string_view out) {
  if (auto reported = reported_error(out)) {
    AM2Z_FUZZ_CHECK(reported->is_object());
    const Error e = typed_error(*reported, "fuzz-step", "exec:fuzz");
    AM2Z_FUZZ_CHECK(!e.name.empty() && !e.code.empty());
    AM2Z_FUZZ_CHECK(!fuzz::printed(e.to_json()).empty());
  }
}

void as_events(std::string_view err) {
  while (!err.empty()) {
    const auto end = err.find('\n');
    std::string_view line = err.substr(0, end);
    err = end == std::string_view::npos ? std::string_view() : err.substr(end + 1);
    if (!line.starts_with(kEventPrefix)) continue;
    if (auto event = parse_event(line.substr(kEventPrefix.size()))) {
      AM2Z_FUZZ_CHECK(!event->name.empty());
      fuzz::printed(event->data);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = am2z::fuzz::text_of(data, size);
  const std::string_view out = trim(bytes);
  if (!out.empty()) as_state(out);
  as_typed_error(out);
  if (auto event = am2z::parse_event(out)) AM2Z_FUZZ_CHECK(!event->name.empty());
  as_events(bytes);
  return 0;
}
