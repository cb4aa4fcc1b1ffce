#include "core/redis/blobs.hpp"

#include <algorithm>
#include <utility>

#include "core/json_limits.hpp"
#include "core/redis/op_chunks.hpp"

namespace am2z::redis {

namespace {

constexpr std::string_view kPointerStart = "{\"am2zBlob\":";
constexpr std::string_view kRecordSuffix = ":record";
/// How long a blob whose call never points to it lives (the call was lost, its worker died).
constexpr long long kUnclaimedBlobTtlMs = 600'000;
/// How long a job's data or a run's input kept out of line lives until its job ends (op "X") or
/// its run does: at most as long as a run's record (op "I").
constexpr long long kBlobWhileRunningMs = 2'592'000'000;

/// Whether `run` is what new_run_id() makes (16 hex digits): a BullMQ client's own job id is
/// never taken for an am2z run's, whose returnvalue would then go out of line.
bool generated_run_id(std::string_view run) {
  return run.size() == 16 && run.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

/// The run key of a run record's key (KeySpace::run_record); "" for another key.
std::string run_key_of_record(const std::string& run_results, const std::string& record) {
  if (!record.starts_with(run_results) || !record.ends_with(kRecordSuffix)) return {};
  const std::string run = record.substr(run_results.size(), record.size() - run_results.size() - kRecordSuffix.size());
  return generated_run_id(run) ? run_results + run : std::string();
}

/// A value that may go out of line: where it sits in its group, the run key its blob is named
/// under, and how long the blob lives.
struct BigValue {
  std::size_t at = 0;
  std::string run_key;
  bool input = false;  ///< a run's input (op "I"): its blob has a name of its own
  long long ttl_ms = kBlobWhileRunningMs;
};

/// The value over a chunk of the operation at `begin`, if it has one; `returnvalue_ttl` is what
/// an op "T" before it said (-1: none).
std::optional<BigValue> big_value_of(const OpGroup& g, std::size_t begin, const std::string& run_results,
                                     long long returnvalue_ttl) {
  const std::string& op = g[begin];
  // C q id token processedOn atm returnvalue keep; A/a q id name data ...; I recordKey input ...
  BigValue v;
  if (op == "C") {
    v.at = begin + 6;
    v.run_key = run_key_of_job(run_results, g[begin + 2]);
    if (returnvalue_ttl >= 0) v.ttl_ms = returnvalue_ttl;
  } else if (op == "A" || op == "a") {
    v.at = begin + 4;
    v.run_key = run_key_of_job(run_results, g[begin + 2]);
  } else if (op == "I") {
    v.at = begin + 2;
    v.run_key = run_key_of_record(run_results, g[begin + 1]);
    v.input = true;
  } else {
    return std::nullopt;
  }
  if (v.at >= g.size() || g[v.at].size() <= kValueChunkBytes || v.run_key.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string run_key_of_job(const std::string& run_results, const std::string& id) {
  const auto dot = id.find('.');
  if (id.size() < 3 || id[0] != 'r' || dot == std::string::npos) return {};
  const std::string run = id.substr(1, dot - 1);
  return generated_run_id(run) ? run_results + run : std::string();
}

bool blob_of_run(const BlobRef& ref, const std::string& owner_run_key) {
  return !owner_run_key.empty() && ref.key.starts_with(owner_run_key + ":blob:");
}

std::string group_identity(const OpGroup& g) {
  std::string id;
  for (std::size_t i = 0; i < std::min<std::size_t>(g.size(), 5); ++i) id.append(g[i]).push_back('\n');
  return id;
}

std::string blob_pointer(const BlobRef& ref) {
  Json j{{"am2zBlob", {{"key", ref.key}, {"chunks", ref.chunks}, {"bytes", ref.bytes}}}};
  return j.dump();
}

std::optional<BlobbedGroup> blob_values(const OpGroup& g, const std::string& call_token,
                                        const std::string& run_results) {
  // the common case, every group of every call: nothing to walk
  if (std::none_of(g.begin(), g.end(), [](const std::string& a) { return a.size() > kValueChunkBytes; })) {
    return std::nullopt;
  }
  std::optional<BlobbedGroup> out;
  OpGroup checks;  // "B" ops: they go right after the group's "G"
  std::size_t n = 0;
  long long returnvalue_ttl = -1;
  for (std::size_t begin = 0; begin < g.size();) {
    const std::size_t end = std::min(g.size(), begin + 1 + op_arity(g[begin]));
    if (g[begin] == "T" && end == begin + 2) returnvalue_ttl = std::stoll(g[begin + 1]);
    if (auto big = big_value_of(g, begin, run_results, returnvalue_ttl)) {
      if (!out) out.emplace().group = g;
      const std::string& value = g[big->at];
      const std::string key =
          big->run_key + ":blob:" + (big->input ? std::string("input") : call_token + ":" + std::to_string(n++));
      const BlobRef ref{key, value_chunks(value.size()), value.size()};
      // a name of its own is written again whole by a submission sent again
      if (big->input) out->commands.push_back({"DEL", ref.key});
      push_chunks(out->commands, ref.key, value);
      out->commands.push_back({"PEXPIRE", ref.key, std::to_string(kUnclaimedBlobTtlMs)});
      checks.insert(checks.end(), {"B", ref.key, std::to_string(ref.chunks), std::to_string(big->ttl_ms)});
      out->group[big->at] = blob_pointer(ref);
    }
    if (g[begin] != "T") returnvalue_ttl = -1;  // "T" speaks for the op right after it only
    begin = end;
  }
  if (!out) return std::nullopt;
  const auto after_g = out->group.begin() + (out->group.front() == "G" ? 1 : 0);
  out->group.insert(after_g, checks.begin(), checks.end());
  return out;
}

std::optional<BlobRef> blob_ref(std::string_view text) {
  if (!text.starts_with(kPointerStart) || text.size() > 4096) return std::nullopt;
  auto parsed = parse_outside_json(text);
  if (!parsed || !parsed->is_object() || parsed->size() != 1) return std::nullopt;
  const Json& p = (*parsed)["am2zBlob"];
  if (!p.is_object() || !p.contains("key") || !p["key"].is_string() || !p.contains("chunks") ||
      !p["chunks"].is_number_unsigned() || !p.contains("bytes") || !p["bytes"].is_number_unsigned()) {
    return std::nullopt;
  }
  BlobRef ref{p["key"].get<std::string>(), p["chunks"].get<std::size_t>(), p["bytes"].get<std::size_t>()};
  // as its writer cuts it: a forged pointer cannot make its reader ask for millions of chunks
  if (ref.key.empty() || ref.chunks != value_chunks(ref.bytes)) return std::nullopt;
  return ref;
}

Result<std::string> join_chunks(Connection& c, const std::string& key, std::size_t from, std::size_t count) {
  std::vector<std::vector<std::string>> reads;
  reads.reserve(count);
  for (std::size_t i = from; i < from + count; ++i) reads.push_back({"LINDEX", key, std::to_string(i)});
  auto r = c.pipeline(reads);
  if (!r) return fail(std::move(r.error()));
  std::string text;
  for (const Reply& chunk : *r) {
    if (chunk.type != Reply::Type::string) break;
    text += chunk.str;
  }
  return text;
}

Result<std::string> read_blob(Connection& c, const BlobRef& ref, std::size_t max_bytes) {
  if (ref.bytes > max_bytes) {
    return fail(errors::validation(ref.key, nullptr,
                                   "is " + std::to_string(ref.bytes) + " bytes, more than the " +
                                       std::to_string(max_bytes) + "-byte limit of this reader (--max-job-size)"));
  }
  auto text = join_chunks(c, ref.key, 0, ref.chunks);
  if (!text) return text;
  if (text->size() != ref.bytes) {
    const std::string why = text->empty() ? "is gone (a value kept out of line lives as long as its run's outcome)"
                                          : "is not whole: " + std::to_string(text->size()) + " bytes read, not the " +
                                                std::to_string(ref.bytes) + " its pointer names";
    return fail(errors::validation(ref.key, nullptr, why));
  }
  return text;
}

Result<std::string> resolve_value(Connection& c, std::string text, const std::string& owner_run_key,
                                  std::size_t max_bytes) {
  const auto ref = blob_ref(text);
  if (!ref || !blob_of_run(*ref, owner_run_key)) return text;
  return read_blob(c, *ref, max_bytes);
}

}  // namespace am2z::redis
