#include "core/redis/join_children.hpp"

#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace am2z::redis {
namespace {

/// Calls `each(field, value)` for every field of `key`, once: HSCAN may return a field twice
/// while the hash is rehashed, so fields seen are remembered.
template <typename Each>
Status scan_hash(Connection& c, const std::string& key, std::size_t chunk, Each each) {
  std::unordered_set<std::string> seen;
  std::string cursor = "0";
  const std::string count = std::to_string(chunk);
  do {
    auto r = c.command({"HSCAN", key, cursor, "COUNT", count});
    if (!r) return fail(std::move(r.error()));
    if (r->is_error()) {  // LOADING after a restart and the like may pass; WRONGTYPE will not
      return fail(is_transient_reply(r->str) ? errors::network("HSCAN " + key, 0, r->str)
                                             : errors::execution("redis HSCAN " + key, r->str));
    }
    if (!r->is_array() || r->elements.size() != 2 || !r->elements[1].is_array())
      return fail(errors::execution("redis HSCAN " + key, "unexpected reply"));
    cursor = r->elements[0].str;
    auto& flat = r->elements[1].elements;
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
      if (seen.insert(flat[i].str).second) each(std::move(flat[i].str), std::move(flat[i + 1].str));
    }
  } while (cursor != "0");
  return {};
}

}  // namespace

Status read_join_children(Connection& c, FetchedJob& job, std::size_t chunk) {
  const std::string key = job.key();
  job.succeeded.clear();
  job.failed.clear();
  job.errors.clear();
  if (auto st = scan_hash(c, key + ":processed", chunk,
                          [&](std::string k, std::string v) { job.succeeded.emplace_back(std::move(k), std::move(v)); });
      !st)
    return st;
  if (auto st = scan_hash(c, key + ":failed", chunk,
                          [&](std::string k, std::string v) { job.failed.emplace_back(std::move(k), std::move(v)); });
      !st)
    return st;
  return scan_hash(c, key + ":errors", chunk,
                   [&](std::string k, std::string v) { job.errors.emplace(std::move(k), std::move(v)); });
}

}  // namespace am2z::redis
