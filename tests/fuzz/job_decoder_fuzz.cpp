// Fuzz target: a fetched BullMQ job hash, decoded by the worker's own reader
// (core/redis/job_input.hpp: read_job, foreign_parent) with the default job limits.
// Input: the job's `data`, `opts` and `parent` field values separated by the byte 0x1E (ASCII
// record separator); a field the input does not reach is absent from the hash, and `parentKey` is
// set whenever `parent` is. Beyond "no crash": read_job gives a state or a reason, never both; a
// full envelope prints and reads back as the same envelope; a child's data also goes through
// Error::from_json, as a join reads its children's errors.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/redis/job_input.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace am2z;

constexpr char kSeparator = '\x1e';

redis::FetchedJob job_of(std::string_view input) {
  redis::FetchedJob job;
  job.queue = "bull:fuzz.step:";
  job.id = "rfuzz.n.0";
  for (const char* name : {"data", "opts", "parent"}) {
    const auto end = input.find(kSeparator);
    job.fields[name] = std::string(input.substr(0, end));
    if (end == std::string_view::npos) break;
    input.remove_prefix(end + 1);
  }
  if (job.fields.contains("parent")) job.fields["parentKey"] = "bull:fuzz.parent:p1";
  return job;
}

void check_read(const redis::JobRead& read) {
  AM2Z_FUZZ_CHECK(read.state.has_value() != read.error.has_value());
  if (read.error) AM2Z_FUZZ_CHECK(!fuzz::printed(read.error->to_json()).empty());
  if (read.state) {
    AM2Z_FUZZ_CHECK(read.state->data.is_object() && !read.state->data.contains("metadata"));
    fuzz::printed(read.state->to_json());
  }
  AM2Z_FUZZ_CHECK(!(read.foreign && read.envelope));
  if (read.envelope && !read.envelope_partial) {
    auto again = redis::Envelope::from_json(read.envelope->to_json(), redis::KeySpace());
    AM2Z_FUZZ_CHECK(again.has_value());
    AM2Z_FUZZ_CHECK(again->to_json() == read.envelope->to_json());
    redis::job_id(read.envelope->run, read.envelope->node, read.envelope->scope);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const redis::FetchedJob job = job_of(fuzz::text_of(bytes, size));
  const redis::JobLimits limits;
  const redis::JobRead read = redis::read_job(job, limits, redis::KeySpace());
  check_read(read);
  // What the worker then reads from the options and the parent field.
  redis::int_option(read.opts, "attempts", 1);
  redis::retention(read.opts, "removeOnComplete", true);
  redis::retention(read.opts, "removeOnFail", false);
  static_cast<void>(redis::foreign_parent(job, limits));
  if (auto data = redis::parse_job_field(job, "data", "{}", limits); data && data->is_object()) {
    AM2Z_FUZZ_CHECK(!fuzz::printed(Error::from_json(*data).to_json()).empty());
  }
  return 0;
}
