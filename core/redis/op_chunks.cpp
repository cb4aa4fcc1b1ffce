#include "core/redis/op_chunks.hpp"

#include <map>
#include <string>
#include <utility>

namespace am2z::redis {

std::size_t op_arity(const std::string& op) {
  static const std::map<std::string, std::size_t> kArity{
      {"G", 0}, {"C", 7}, {"F", 8}, {"R", 8}, {"L", 3}, {"A", 14}, {"a", 14}, {"S", 2}, {"J", 6},
      {"O", 7}, {"o", 7}, {"B", 3}, {"X", 2}, {"T", 1}, {"N", 4},  {"E", 2},  {"V", 3}, {"W", 1},
      {"P", 1}, {"Z", 1}, {"M", 7}, {"U", 2}, {"K", 7}, {"I", 6},  {"Q", 5}};
  const auto it = kArity.find(op);
  return it == kArity.end() ? 0 : it->second;
}

namespace {

/// The [begin, end) spans of the group's operations.
std::vector<std::pair<std::size_t, std::size_t>> spans_of(const OpGroup& g) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < g.size();) {
    const std::size_t end = std::min(g.size(), i + 1 + op_arity(g[i]));
    out.emplace_back(i, end);
    i = end;
  }
  return out;
}

bool is_add(const std::string& op) { return op == "A" || op == "a"; }

/// A ready job under a join: what may go ahead of its group.
bool is_child_add(const OpGroup& g, std::size_t begin) {
  return is_add(g[begin]) && g[begin + 6] == "w" && !g[begin + 7].empty();
}

}  // namespace

std::size_t adds_in(const OpGroup& g) {
  std::size_t n = 0;
  for (const auto& [begin, end] : spans_of(g)) n += is_add(g[begin]) ? 1 : 0;
  return n;
}

OpGroup check_of(const OpGroup& g) {
  for (const auto& [begin, end] : spans_of(g)) {
    const std::string& op = g[begin];
    if (op == "C" || op == "F" || op == "R") return {"L", g[begin + 1], g[begin + 2], g[begin + 3]};
  }
  return {};
}

OpGroup next_chunk(AddFeed& feed, const OpGroup& check, std::size_t max_adds) {
  OpList planned;
  feed.next(max_adds, planned);
  std::vector<OpGroup> groups = planned.take_groups();
  OpGroup chunk{"G"};
  chunk.insert(chunk.end(), check.begin(), check.end());
  for (OpGroup& g : groups) {
    for (const auto& [begin, end] : spans_of(g)) {
      if (!is_add(g[begin])) continue;  // a feed plans adds only
      chunk.push_back("a");             // a chunk sent again, or planned again, adds nothing twice
      for (std::size_t x = begin + 1; x < end; ++x) chunk.push_back(std::move(g[x]));
    }
  }
  return chunk;
}

std::size_t bytes_in(const OpGroup& g) {
  std::size_t n = 0;
  for (const auto& arg : g) n += arg.size();
  return n;
}

namespace {

/// An outcome ("O") whose payload is over kValueChunkBytes: in a group that finishes a job, it goes
/// ahead behind the finish's ownership check, so the state does not travel twice in one call (as
/// the finish's returnvalue and in the outcome). Ahead is safe: a run has one outcome whoever
/// writes it first, and a worker that dies before the finish leaves the job to stalled recovery,
/// whose outcome then adds nothing.
bool is_big_outcome(const OpGroup& g, std::size_t begin) {
  return g[begin] == "O" && g[begin + 2].size() > kValueChunkBytes;
}

}  // namespace

std::vector<OpGroup> chunk_group(OpGroup g, std::size_t max_adds) {
  const auto spans = spans_of(g);
  std::size_t children = 0;
  bool big_outcome = false;
  for (const auto& [begin, end] : spans) {
    children += is_child_add(g, begin) ? 1 : 0;
    big_outcome = big_outcome || is_big_outcome(g, begin);
  }
  // The finish's ownership check: chunks of a worker that lost its job add nothing.
  const OpGroup check = check_of(g);
  if (check.empty()) big_outcome = false;  // a submission's or a cancel's outcome stays where it is
  if (children <= max_adds && !big_outcome) return {std::move(g)};
  std::vector<OpGroup> out;
  if (big_outcome) {
    out.push_back(OpGroup{"G"});
    out.back().insert(out.back().end(), check.begin(), check.end());
  }
  OpGroup rest;
  std::size_t in_chunk = 0;
  const std::size_t first_chunk = out.size();
  for (const auto& [begin, end] : spans) {
    if (big_outcome && is_big_outcome(g, begin)) {
      for (std::size_t x = begin; x < end; ++x) out.front().push_back(std::move(g[x]));
      continue;
    }
    if (children <= max_adds || !is_child_add(g, begin)) {
      for (std::size_t x = begin; x < end; ++x) rest.push_back(std::move(g[x]));
      continue;
    }
    if (out.size() == first_chunk || in_chunk == max_adds) {
      out.push_back(OpGroup{"G"});
      out.back().insert(out.back().end(), check.begin(), check.end());
      in_chunk = 0;
    }
    ++in_chunk;
    OpGroup& chunk = out.back();
    chunk.push_back("a");
    for (std::size_t x = begin + 1; x < end; ++x) chunk.push_back(std::move(g[x]));
  }
  if (rest.empty() || rest.front() != "G") rest.insert(rest.begin(), "G");
  out.push_back(std::move(rest));
  return out;
}

namespace {
// Positions in an outcome sent ahead: "G", "L" q id token, "O" reply payload ttl runKey session end record
constexpr std::size_t kAheadReply = 6, kAheadPayload = 7, kAheadRunKey = 9;
}  // namespace

const std::string& outcome_run_key(const OpGroup& g) { return g[kAheadRunKey]; }

void push_chunks(std::vector<std::vector<std::string>>& commands, const std::string& key, const std::string& value) {
  for (std::size_t at = 0; at < value.size(); at += kValueChunkBytes) {
    commands.push_back({"RPUSH", key, value.substr(at, kValueChunkBytes)});
  }
}

std::string outcome_chunks_header(std::size_t chunks, std::size_t bytes) {
  return "{\"am2zChunks\":" + std::to_string(chunks) + ",\"bytes\":" + std::to_string(bytes) + "}";
}

bool is_outcome_ahead(const OpGroup& g) {
  return g.size() == 13 && g[0] == "G" && g[1] == "L" && g[5] == "O" && g[kAheadPayload].size() > kValueChunkBytes;
}

std::optional<StagedOutcome> stage_outcome(const OpGroup& g, const std::string& call_token) {
  if (!is_outcome_ahead(g)) return std::nullopt;
  // a reply list of many runs' gets the payload itself
  if (g[kAheadReply] != g[kAheadRunKey]) return std::nullopt;
  const std::string key = g[kAheadRunKey] + ":staged:" + call_token;
  StagedOutcome s;
  const std::string& payload = g[kAheadPayload];
  s.commands.push_back({"RPUSH", key, outcome_chunks_header(value_chunks(payload.size()), payload.size())});
  push_chunks(s.commands, key, payload);
  s.commands.push_back({"PEXPIRE", key, std::to_string(kStagedOutcomeTtlMs)});
  s.group = {"G", "L", g[2], g[3], g[4], "o", g[6], key, g[8], g[9], g[10], g[11], g[12]};
  return s;
}

std::size_t groups_per_call(std::span<const OpGroup> groups, std::size_t max_adds) {
  std::size_t n = 0, adds = 0, bytes = 0;
  for (const auto& g : groups) {
    const std::size_t more = adds_in(g);
    const std::size_t size = bytes_in(g);
    // an outcome sent ahead of its finish travels alone, which is what lets it be staged
    const bool alone = is_outcome_ahead(g);
    if (n > 0 && (alone || adds + more > max_adds || bytes + size > kBigCallBytes)) break;
    adds += more;
    bytes += size;
    ++n;
    if (alone) break;
  }
  return n;
}

}  // namespace am2z::redis
