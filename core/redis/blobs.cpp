#include "core/redis/blobs.hpp"

#include <utility>

#include "core/json_limits.hpp"
#include "core/redis/op_chunks.hpp"

namespace am2z::redis {

namespace {

constexpr std::string_view kPointerStart = "{\"am2zBlob\":";
constexpr std::string_view kRecordSuffix = ":record";
/// How long a blob whose call never points to it lives (the call was lost, its worker died).
constexpr long long kUnclaimedBlobTtlMs = 600'000;

std::size_t chunks_for(std::size_t bytes) { return (bytes + kValueChunkBytes - 1) / kValueChunkBytes; }

/// Whether `run` is what new_run_id() makes (16 hex digits): a BullMQ client's own job id is
/// never taken for an am2z run's, whose returnvalue would then go out of line.
bool generated_run_id(std::string_view run) {
  return run.size() == 16 && run.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

/// The run key of the run an am2z job id ("r<run>.<path>", job_id()) names; "" for another id.
std::string run_key_of_job(const std::string& run_results, const std::string& id) {
  const auto dot = id.find('.');
  if (id.size() < 3 || id[0] != 'r' || dot == std::string::npos) return {};
  const std::string run = id.substr(1, dot - 1);
  return generated_run_id(run) ? run_results + run : std::string();
}

/// The run key of a run record's key (KeySpace::run_record); "" for another key.
std::string run_key_of_record(const std::string& run_results, const std::string& record) {
  if (!record.starts_with(run_results) || !record.ends_with(kRecordSuffix)) return {};
  const std::string run = record.substr(run_results.size(), record.size() - run_results.size() - kRecordSuffix.size());
  return generated_run_id(run) ? run_results + run : std::string();
}

/// Where a value that may go out of line sits in the operation at `begin`, and the run key its
/// blob is named under; nullopt for an operation without one.
std::optional<std::pair<std::size_t, std::string>> big_value_of(const OpGroup& g, std::size_t begin,
                                                                const std::string& run_results) {
  const std::string& op = g[begin];
  // C q id token processedOn atm returnvalue keep; A/a q id name data ...; I recordKey input ...
  std::size_t at = 0;
  std::string run_key;
  if (op == "C") {
    at = begin + 6;
    run_key = run_key_of_job(run_results, g[begin + 2]);
  } else if (op == "A" || op == "a") {
    at = begin + 4;
    run_key = run_key_of_job(run_results, g[begin + 2]);
  } else if (op == "I") {
    at = begin + 2;
    run_key = run_key_of_record(run_results, g[begin + 1]);
  } else {
    return std::nullopt;
  }
  if (at >= g.size() || g[at].size() <= kValueChunkBytes || run_key.empty()) return std::nullopt;
  return std::make_pair(at, std::move(run_key));
}

}  // namespace

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
  std::optional<BlobbedGroup> out;
  OpGroup checks;  // "B" ops: they go right after the group's "G"
  std::size_t n = 0;
  for (std::size_t begin = 0; begin < g.size();) {
    const std::size_t end = std::min(g.size(), begin + 1 + op_arity(g[begin]));
    if (auto big = big_value_of(g, begin, run_results)) {
      if (!out) out.emplace().group = g;
      const auto& [at, run_key] = *big;
      const std::string& value = g[at];
      BlobRef ref{run_key + ":blob:" + call_token + ":" + std::to_string(n++), chunks_for(value.size()), value.size()};
      for (std::size_t from = 0; from < value.size(); from += kValueChunkBytes) {
        out->commands.push_back({"RPUSH", ref.key, value.substr(from, kValueChunkBytes)});
      }
      out->commands.push_back({"PEXPIRE", ref.key, std::to_string(kUnclaimedBlobTtlMs)});
      checks.insert(checks.end(), {"B", ref.key, run_key, std::to_string(ref.chunks)});
      out->group[at] = blob_pointer(ref);
    }
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
  if (ref.key.empty() || ref.chunks != chunks_for(ref.bytes)) return std::nullopt;
  return ref;
}

Result<std::string> read_blob(Connection& c, const BlobRef& ref, std::size_t max_bytes) {
  if (ref.bytes > max_bytes) {
    return fail(errors::validation(ref.key, nullptr,
                                   "is " + std::to_string(ref.bytes) + " bytes, more than the " +
                                       std::to_string(max_bytes) + "-byte limit of this reader (--max-job-size)"));
  }
  std::vector<std::vector<std::string>> reads;
  reads.reserve(ref.chunks + 1);
  reads.push_back({"LLEN", ref.key});
  for (std::size_t i = 0; i < ref.chunks; ++i) reads.push_back({"LINDEX", ref.key, std::to_string(i)});
  auto r = c.pipeline(reads);
  if (!r) return fail(std::move(r.error()));
  std::string text;
  text.reserve(ref.bytes);
  for (std::size_t i = 1; i < r->size(); ++i) {
    const Reply& chunk = (*r)[i];
    if (chunk.type != Reply::Type::string) break;
    text += chunk.str;
  }
  const Reply& length = r->front();
  if (length.type != Reply::Type::integer || length.integer != static_cast<long long>(ref.chunks) ||
      text.size() != ref.bytes) {
    const std::string why = length.type == Reply::Type::integer && length.integer == 0
                                ? "is gone (a value kept out of line lives as long as its run's outcome)"
                                : "is not whole: " + std::to_string(text.size()) + " bytes read, not the " +
                                      std::to_string(ref.bytes) + " its pointer names";
    return fail(errors::validation(ref.key, nullptr, why));
  }
  return text;
}

Result<std::string> resolve_value(Connection& c, std::string text, std::size_t max_bytes) {
  const auto ref = blob_ref(text);
  if (!ref) return text;
  return read_blob(c, *ref, max_bytes);
}

}  // namespace am2z::redis
