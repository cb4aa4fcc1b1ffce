// Fuzz target: the fields of a fetched BullMQ job hash, decoded the way a worker decodes them.
// Input: the job's `data`, `opts` and `parent` field values separated by the byte 0x1E (ASCII
// record separator; missing fields are "{}"). Each is outside JSON: parse_outside_json, then
//   opts.am2z -> Envelope::from_json (printed and read back: the same envelope);
//   data      -> State::from_json with the envelope's session, and Error::from_json (join results);
//   parent    -> parsed only (the worker reads it inline).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "core/json_limits.hpp"
#include "core/redis/envelope.hpp"
#include "core/state.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace am2z;

constexpr char kSeparator = '\x1e';

/// The next field of the input; "{}" (BullMQ's default) when the input has no more.
std::string_view next_field(std::string_view& rest, bool& more) {
  if (!more) return "{}";
  const auto end = rest.find(kSeparator);
  std::string_view field = rest.substr(0, end);
  more = end != std::string_view::npos;
  rest = more ? rest.substr(end + 1) : std::string_view();
  return field;
}

std::optional<redis::Envelope> envelope_of(const Json& opts) {
  if (!opts.is_object()) return std::nullopt;
  const auto am2z = opts.find("am2z");
  if (am2z == opts.end()) return std::nullopt;
  auto env = redis::Envelope::from_json(*am2z);
  if (!env) {
    AM2Z_FUZZ_CHECK(!env.error().message.empty());
    AM2Z_FUZZ_CHECK(!fuzz::printed(env.error().to_json()).empty());
    return std::nullopt;
  }
  auto again = redis::Envelope::from_json(env->to_json());
  AM2Z_FUZZ_CHECK(again.has_value());
  AM2Z_FUZZ_CHECK(again->to_json() == env->to_json());
  redis::job_id(env->run, env->node, env->scope);
  if (env->join) env->join->dependencies_key();
  return std::move(*env);
}

void decode_data(const Json& data, const std::optional<redis::Envelope>& env) {
  auto state = State::from_json(data, env ? env->session : "job-1");
  if (state) {
    AM2Z_FUZZ_CHECK(state->data.is_object() && !state->data.contains("metadata"));
    fuzz::printed(state->to_json());
  } else {
    AM2Z_FUZZ_CHECK(!fuzz::printed(state.error().to_json()).empty());
  }
  if (data.is_object()) {
    const Error e = Error::from_json(data);
    AM2Z_FUZZ_CHECK(!fuzz::printed(e.to_json()).empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view rest = am2z::fuzz::text_of(bytes, size);
  bool more = true;
  const std::string_view data = next_field(rest, more);
  const std::string_view opts = next_field(rest, more);
  const std::string_view parent = next_field(rest, more);

  auto parsed_opts = am2z::parse_outside_json(opts);
  const auto env = parsed_opts ? envelope_of(*parsed_opts) : std::nullopt;
  if (auto parsed = am2z::parse_outside_json(data)) decode_data(*parsed, env);
  static_cast<void>(am2z::parse_outside_json(parent));
  return 0;
}
