#include "core/redis/join_children.hpp"

#include <string>
#include <utility>
#include <vector>

namespace am2z::redis {

Result<std::vector<std::pair<std::string, std::string>>> HashScan::next(Connection& c) {
  std::vector<std::pair<std::string, std::string>> fields;
  if (done_) return fields;
  auto r = c.command({"HSCAN", key_, cursor_, "COUNT", std::to_string(chunk_)});
  if (!r) return fail(std::move(r.error()));
  if (r->is_error()) {  // LOADING after a restart and the like may pass; WRONGTYPE will not
    return fail(is_transient_reply(r->str) ? errors::network("HSCAN " + key_, 0, r->str)
                                           : errors::execution("redis HSCAN " + key_, r->str));
  }
  if (!r->is_array() || r->elements.size() != 2 || !r->elements[1].is_array())
    return fail(errors::execution("redis HSCAN " + key_, "unexpected reply"));
  auto& flat = r->elements[1].elements;
  fields.reserve(flat.size() / 2);
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) fields.emplace_back(std::move(flat[i].str), std::move(flat[i + 1].str));
  cursor_ = std::move(r->elements[0].str);
  done_ = cursor_ == "0";
  return fields;
}

namespace {

/// Calls `each(field, value)` for every field of `key`.
template <typename Each>
Status scan_hash(Connection& c, const std::string& key, std::size_t chunk, Each each) {
  HashScan scan(key, chunk);
  while (!scan.done()) {
    auto fields = scan.next(c);
    if (!fields) return fail(std::move(fields.error()));
    for (auto& [k, v] : *fields) each(std::move(k), std::move(v));
  }
  return {};
}

}  // namespace

Status read_join_failures(Connection& c, FetchedJob& job, std::size_t chunk) {
  const std::string key = job.key();
  job.failed.clear();
  job.errors.clear();
  if (auto st = scan_hash(c, key + ":failed", chunk,
                          [&](std::string k, std::string v) { job.failed.emplace_back(std::move(k), std::move(v)); });
      !st)
    return st;
  return scan_hash(c, key + ":errors", chunk,
                   [&](std::string k, std::string v) { job.errors.insert_or_assign(std::move(k), std::move(v)); });
}

}  // namespace am2z::redis
