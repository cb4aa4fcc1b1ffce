#pragma once
// Big groups sent in chunks. A finish that starts a batch of 100,000 items would add them all in
// one call of lua/step.lua: one command that blocks Redis for seconds and one request as big as
// every item together. Such a group is split: the children of its joins go ahead in chunks of a
// bounded number of jobs, each chunk checking that the finishing job is still this worker's (op
// "L") and adding only jobs that do not exist yet (op "a", so a chunk sent again, or planned
// again after its worker died, adds nothing twice); the group itself follows with the finish, the
// joins (created after their children, released at once when every child already ended) and
// the rest. Until that last part lands, the children already added run and deliver to a join
// that does not exist yet; it finds their results when it is created.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/redis/op_list.hpp"

namespace am2z::redis {

/// The most jobs one step-script call adds (a documented limit: README, "Big batches"). With 250,
/// a call adding a 100,000-item batch's jobs took 10-17 ms now and then on a 2-core VM, as
/// Redis's memory and tables grew under it; with 125, 5-8 ms.
inline constexpr std::size_t kMaxAddsPerCall = 125;

/// Above this many bytes of arguments a call carries nothing more (it carries one group at
/// least). Each value handed to the step function becomes a Lua string, which Redis's Lua hashes
/// byte by byte (about 1 ms per MB on a 2-core VM), and is written again by each command: a
/// megabytes-big state and its outcome in one call made one command of 15 ms (README, "Big
/// states"). A run's outcome over kValueChunkBytes goes in a call of its own ahead of its finish.
inline constexpr std::size_t kBigCallBytes = 1u << 20;

/// A run's outcome staged ahead of its call (op "o" of lua/step.lua): the commands that push it
/// under its staging key, as a header and then its text cut in chunks of kValueChunkBytes, and
/// the group sent in its stead, which names that list. Sent that way, megabytes of state never
/// become a Lua string (Redis's Lua hashes every byte of every string it is handed, about 1.25 ms
/// per MB here: a 3 MB outcome cost Redis 4.7 ms through the step function against 0.69 ms
/// staged), and no command writes more than a chunk (README, "Big states").
struct StagedOutcome {
  std::vector<std::vector<std::string>> commands;
  OpGroup group;
};

/// The most bytes of one value (a staged outcome, a blob: blobs.hpp) one command writes or reads.
/// Where Redis's memory is new to it (a big batch grows it by hundreds of MB) each 4 KiB page it
/// touches first costs a page fault, about 13 us on a 2-core VM: a 3 MB value written in one
/// command took 10-17 ms there, a chunk of 256 KiB takes under 1 ms.
inline constexpr std::size_t kValueChunkBytes = 256u << 10;

/// How many chunks of kValueChunkBytes hold `bytes`.
constexpr std::size_t value_chunks(std::size_t bytes) { return (bytes + kValueChunkBytes - 1) / kValueChunkBytes; }

/// Redis's own limit on a string (proto-max-bulk-len's default): no value read in chunks is bigger.
inline constexpr std::size_t kMaxRedisStringBytes = std::size_t{512} << 20;

/// Appends to `commands` one RPUSH to `key` per chunk of `value`, in order.
void push_chunks(std::vector<std::vector<std::string>>& commands, const std::string& key, const std::string& value);

/// The first element of a staged outcome's list: how many chunks follow it and their bytes
/// together (valid JSON, without the "ok" of an outcome). Readers join the chunks
/// (submitter.cpp); op "o" refuses a list whose length is not the header's count plus one.
std::string outcome_chunks_header(std::size_t chunks, std::size_t bytes);

/// How long a staged outcome lives when its call never uses it (the call was lost and its outcome
/// staged again under another name, or its worker died in between): the call follows it at once.
inline constexpr long long kStagedOutcomeTtlMs = 600'000;

/// The refusal of a group whose staged outcome was gone when its call ran (evicted, deleted).
inline constexpr long long kStagedOutcomeGoneCode = -8;

/// When `g` is an outcome that chunk_group sent ahead of its finish ("G", the ownership check
/// "L", then "O" with a payload over kValueChunkBytes) and the run's submitter waits on the run's own
/// key, its staged form (a header, then chunks of kValueChunkBytes, each pushed by a command of
/// its own), under that key followed by ":staged:" and `call_token` (unique per call,
/// so that a stale worker's staging never meets the owner's); else nullopt.
std::optional<StagedOutcome> stage_outcome(const OpGroup& g, const std::string& call_token);

/// Whether `g` is an outcome that chunk_group sent ahead of its finish (what stage_outcome stages
/// when its submitter waits on the run's own key).
bool is_outcome_ahead(const OpGroup& g);

/// The run key (KeySpace::run_result) of an outcome group that stage_outcome accepts.
const std::string& outcome_run_key(const OpGroup& g);

/// Arguments after an opcode, as lua/step.lua's `arity` table ("G" has none; 0 for unknown ones).
std::size_t op_arity(const std::string& op);

/// How many jobs the group adds (ops "A" and "a").
std::size_t adds_in(const OpGroup& g);

/// `g` as it should be sent: itself when it adds at most `max_adds` children of joins and ends no
/// run with an outcome over kValueChunkBytes, else the chunks sent ahead of it (children of joins;
/// such an outcome, behind the same ownership check), then what remains of it (see above).
std::vector<OpGroup> chunk_group(OpGroup g, std::size_t max_adds = kMaxAddsPerCall);

/// The ownership check of the group's finish ("L q id token"), empty when it finishes no job (a
/// submission).
OpGroup check_of(const OpGroup& g);

/// The next chunk of `feed`'s jobs: "G", `check`, then up to `max_adds` adds as op "a".
OpGroup next_chunk(AddFeed& feed, const OpGroup& check, std::size_t max_adds = kMaxAddsPerCall);

/// The bytes of the group's arguments.
std::size_t bytes_in(const OpGroup& g);

/// How many of `groups`, from the front, one call carries: as many as add at most `max_adds`
/// jobs together and hold at most kBigCallBytes of arguments, and at least one; an outcome sent
/// ahead (is_outcome_ahead) goes alone.
std::size_t groups_per_call(std::span<const OpGroup> groups, std::size_t max_adds = kMaxAddsPerCall);

}  // namespace am2z::redis
