#pragma once
// The state threaded through a flow: user data plus metadata the engine owns.
#include <chrono>
#include <cstdint>
#include <string>

#include "core/json.hpp"
#include "core/result.hpp"

namespace am2z {

using SystemClock = std::chrono::system_clock;

/// Kept outside the JSON so a step bumps an integer instead of editing a JSON object.
struct Metadata {
  std::string session_id;
  std::int64_t version = 1;
  SystemClock::time_point created_at{};
  SystemClock::time_point last_updated{};

  /// One successful step: version + 1, lastUpdated = now.
  void bump() {
    ++version;
    last_updated = SystemClock::now();
  }
};

/// A flow state. `data` is a JSON object without the `metadata` key.
struct State {
  Json data = Json::object();
  Metadata meta;

  /// Fresh state for a session: version 1, createdAt = lastUpdated = now.
  static State create(std::string session_id, Json data = Json::object());
  /// Reads a JSON document; a `metadata` object in it is taken over (sessionId, version, times).
  /// A non-object document, or malformed metadata, is a ValidationError naming the field.
  static Result<State> from_json(Json doc, const std::string& default_session);
  /// {"metadata": {...}, ...data}
  Json to_json() const;
  /// dump_text(to_json()), byte for byte, without building that copy of the whole state first
  /// (a batch's merged state can hold 100,000 results).
  std::string to_text() const;
  /// Only the metadata object.
  Json metadata_json() const;
};

/// ISO-8601 UTC with milliseconds: 2025-07-05T10:00:00.000Z
std::string format_timestamp(SystemClock::time_point t);
/// Parses format_timestamp output (and plain seconds precision); false when malformed.
bool parse_timestamp(std::string_view text, SystemClock::time_point& out);

}  // namespace am2z
