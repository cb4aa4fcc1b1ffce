#include "core/redis/run_record.hpp"

#include <charconv>

#include "core/json_limits.hpp"
#include "core/redis/blobs.hpp"
#include "core/redis/envelope.hpp"
#include "core/redis/op_chunks.hpp"

namespace am2z::redis {

std::string named_session(const RunRecord& rec) {
  return rec.session == generated_session(rec.run_id) ? std::string() : rec.session;
}

Result<State> resume_input(const RunRecord& rec, const KeySpace& keys) {
  auto parsed = parse_outside_json(rec.input);
  if (!parsed) return fail(errors::validation(keys.run_record(rec.run_id) + " input", nullptr, parsed.error().reason));
  auto state = State::from_json(*parsed, "");
  if (!state) return fail(std::move(state.error()));
  state->meta.session_id = named_session(rec);
  return std::move(*state);
}

Result<std::optional<RunRecord>> read_run_record(Connection& c, const KeySpace& keys, const std::string& run_id) {
  const std::string key = keys.run_record(run_id);
  auto r = c.command({"HGETALL", key});
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) return fail(errors::network(key, 0, r->str));
  if (r->elements.empty()) return std::optional<RunRecord>();
  RunRecord rec;
  rec.run_id = run_id;
  bool has_input = false;
  for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    const std::string& field = r->elements[i].str;
    std::string& value = r->elements[i + 1].str;
    if (field == "input") {
      rec.input = std::move(value);
      has_input = true;
    } else if (field == "flow") {
      rec.flow = std::move(value);
    } else if (field == "hash") {
      rec.hash = std::move(value);
    } else if (field == "session") {
      rec.session = std::move(value);
    } else if (field == "resumeOf") {
      rec.resume_of = std::move(value);
    } else if (field == "submitted" || field.starts_with("reused:")) {
      long long n = 0;
      std::from_chars(value.data(), value.data() + value.size(), n);
      if (field == "submitted") {
        rec.submitted_ms = n;
      } else {
        rec.reused[field.substr(7)] = n;
      }
    }
  }
  if (!has_input || rec.flow.empty()) {
    // only the counts of a record that expired while its run was still adding reused steps
    return fail(errors::validation(key, nullptr, "is not a complete run record (no input or flow field)"));
  }
  // an input over a chunk was kept out of line (blobs.hpp)
  auto input = resolve_value(c, std::move(rec.input), keys.run_result(run_id), kMaxRedisStringBytes);
  if (!input) {
    Error e = std::move(input.error());
    e.message = key + " input: " + e.message;
    return fail(std::move(e));
  }
  rec.input = std::move(*input);
  return std::optional<RunRecord>(std::move(rec));
}

}  // namespace am2z::redis
