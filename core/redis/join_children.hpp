#pragma once
// A big join's children, read in chunks. The step script hands a join's ended children over with
// the join itself only while they are few (lua/step_fetch.lua, kJoinInlineChildren); a batch of
// thousands would make that fetch one long command that blocks Redis, and one reply as big as
// every result together. Such a join comes with only the count, and the pool thread that merges it
// reads the children with HSCAN, a chunk per command, after the fetch: the join is released, so
// its children's hashes no longer change. The succeeded children (:processed) are read as the
// join merges them (HashScan), so a batch's results are never all held as text at once.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "core/redis/connection.hpp"
#include "core/redis/job_codec.hpp"

namespace am2z::redis {

/// The most children a join's fetch hands over itself (lua/step_fetch.lua keeps the same number).
inline constexpr std::size_t kJoinInlineChildren = 256;
/// Hash fields asked for per HSCAN call (a hint: Redis may return a few more or fewer).
inline constexpr std::size_t kJoinReadChunk = 1000;

/// One hash read with HSCAN, a chunk per call. Every field comes at least once; HSCAN may repeat
/// one while Redis rehashes the hash (a join places each child at its branch's slot, so a
/// repeat overwrites the same result).
class HashScan {
 public:
  explicit HashScan(std::string key, std::size_t chunk = kJoinReadChunk) : key_(std::move(key)), chunk_(chunk) {}
  /// The next chunk's (field, value) pairs, read on `c`. A failure keeps the cursor, so calling
  /// again (on a new connection after a restart, say) reads the same chunk again; it is a
  /// network error when trying again may succeed (no connection, Redis loading).
  Result<std::vector<std::pair<std::string, std::string>>> next(Connection& c);
  /// Whether every chunk was read.
  bool done() const { return done_; }
  const std::string& key() const { return key_; }

 private:
  std::string key_;
  std::size_t chunk_;
  std::string cursor_ = "0";
  bool done_ = false;
};

/// Fills job.failed and job.errors from the join's :failed and :errors hashes (a batch's
/// failures, usually few), `chunk` fields per command. A failure leaves them partly filled. The
/// succeeded children (:processed) are read with a HashScan as the join merges them.
Status read_join_failures(Connection& c, FetchedJob& job, std::size_t chunk = kJoinReadChunk);

}  // namespace am2z::redis
