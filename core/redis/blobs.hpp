#pragma once
// Values too big for one command, kept out of line. A job's data or returnvalue, or a run's
// recorded input, over kValueChunkBytes is pushed by its writer to a list of its own (a blob),
// one RPUSH per chunk, just before the step-script call that writes the job; the field holds a
// pointer to it instead, {"am2zBlob":{"key":K,"chunks":n,"bytes":N}} (valid JSON, so BullMQ's
// clients parse it), and readers join the chunks (read_blob). No command writes or reads more
// than a chunk of such a value: Redis's Lua hashes every byte of every string handed to it and
// each new 4 KiB page of Redis's memory costs a page fault (op_chunks.hpp, kValueChunkBytes).
//
// A blob belongs to its run: it is named under the run's key (<run key>:blob:<call token>:<n>;
// the run's input <run key>:blob:input), and op "B" of the call that points to it checks it is
// whole (else it refuses the group, code kBlobGoneCode, which its writer sends again with the
// value in it) and sets its life, which costs a run without blobs nothing: a job's data lives
// until its job ends (30 days at most), when the worker that ends it gives it the run's result
// TTL (op "X"); a returnvalue lives for the result TTL its worker gives it (op "T" before the
// finish); a run's input as long as its record (30 days at most, then the outcome's TTL).
// What stays in line: a join's copy of a child's result (its :processed hash), an outcome that
// is not staged (op_chunks.hpp), events.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/redis/connection.hpp"
#include "core/redis/op_list.hpp"

namespace am2z::redis {

/// How long a job's values kept out of line live once it ended when its run's outcome is kept
/// for ever or its run is unknown: a day (the default result TTL).
inline constexpr long long kDefaultBlobTtlMs = 86'400'000;

/// The refusal of a group one of whose blobs was gone or incomplete when its call ran.
inline constexpr long long kBlobGoneCode = -9;

/// A group as it is sent with its big values out of line: the commands that write the blobs
/// (each RPUSH a chunk; a PEXPIRE that removes a blob whose call is lost), then the group, which
/// checks them ("B" ops right after its "G") and points to them.
struct BlobbedGroup {
  std::vector<std::vector<std::string>> commands;
  OpGroup group;
};

/// `g` with its values over kValueChunkBytes (op "C"'s returnvalue, "A"/"a"'s data, "I"'s input)
/// out of line, named after `call_token` (unique per call) under the runs' keys
/// (`run_results`, KeySpace::run_results()); nullopt when it has none, or none whose run its
/// job id or record key names as new_run_id() makes them (a BullMQ client's job keeps its
/// returnvalue in line).
std::optional<BlobbedGroup> blob_values(const OpGroup& g, const std::string& call_token,
                                        const std::string& run_results);

/// What tells a worker's groups apart while they wait to be sent again: the opcode of their first
/// operation and its first three arguments (a finish's queue, job and lock token).
std::string group_identity(const OpGroup& g);

/// Where a field's value is when its text is a blob's pointer.
struct BlobRef {
  std::string key;
  std::size_t chunks = 0;
  std::size_t bytes = 0;
};

/// The pointer `text` is, if it is one (written as blob_values writes it, its chunks' count
/// matching its size).
std::optional<BlobRef> blob_ref(std::string_view text);

/// The pointer to a blob: what the field holds.
std::string blob_pointer(const BlobRef& ref);

/// Elements `from` .. `from + count - 1` of list `key`, read one command each (no reply bigger
/// than a chunk) and joined, up to the first that is missing: shorter than asked when the list
/// is.
Result<std::string> join_chunks(Connection& c, const std::string& key, std::size_t from, std::size_t count);

/// A blob's text, its chunks read one command each and joined; an error naming its key when it
/// is over `max_bytes`, gone (it expired with its run's outcome) or not whole.
Result<std::string> read_blob(Connection& c, const BlobRef& ref, std::size_t max_bytes);

/// The run key (under `run_results`) of the run job `id` belongs to, as job_id() names the jobs
/// of a run whose id new_run_id() made; "" for any other id.
std::string run_key_of_job(const std::string& run_results, const std::string& id);

/// Whether `ref` names a blob of run `owner_run_key` ("" owns none): what the run's own writers
/// make. Anyone who can add a job writes its fields: a pointer to anything else is no pointer.
bool blob_of_run(const BlobRef& ref, const std::string& owner_run_key);

/// `text` itself, or the blob it points to when that is one of run `owner_run_key`'s (read_blob).
Result<std::string> resolve_value(Connection& c, std::string text, const std::string& owner_run_key,
                                  std::size_t max_bytes);

}  // namespace am2z::redis
