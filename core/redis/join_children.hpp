#pragma once
// A big join's children, read in chunks. The step script hands a join's ended children over with
// the join itself only while they are few (lua/step_fetch.lua, kJoinInlineChildren); a batch of
// thousands would make that fetch one long command that blocks Redis, and one reply as big as
// every result together. Such a join comes with only the count, and the pool thread that merges it
// reads the children with HSCAN, a chunk per command, after the fetch: the join is released, so
// its children's hashes no longer change.
#include <cstddef>

#include "core/redis/connection.hpp"
#include "core/redis/job_codec.hpp"

namespace am2z::redis {

/// The most children a join's fetch hands over itself (lua/step_fetch.lua keeps the same number).
inline constexpr std::size_t kJoinInlineChildren = 256;
/// Hash fields asked for per HSCAN call (a hint: Redis may return a few more or fewer).
inline constexpr std::size_t kJoinReadChunk = 1000;

/// Fills job.succeeded, job.failed and job.errors from the join's :processed, :failed and :errors
/// hashes, `chunk` fields per command, each child once. A failure leaves them partly filled; it is
/// a network error when trying again may succeed (no connection, Redis loading after a restart).
Status read_join_children(Connection& c, FetchedJob& job, std::size_t chunk = kJoinReadChunk);

}  // namespace am2z::redis
