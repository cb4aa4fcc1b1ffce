#include "core/redis/job_codec.hpp"

#include <charconv>

#include "core/redis/key_space.hpp"

namespace am2z::redis {

namespace {

Error malformed(const std::string& what) { return errors::execution("redis step script", "unexpected reply: " + what); }

long long to_ll(const std::string& s, long long fallback) {
  long long v = fallback;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() ? v : fallback;
}

std::vector<std::pair<std::string, std::string>> pairs_of(const Reply& flat) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i + 1 < flat.elements.size(); i += 2)
    out.emplace_back(flat.elements[i].str, flat.elements[i + 1].str);
  return out;
}

// The fetched jobs, in one list (lua/step_fetch.lua): per job q, id, token, the values of
// kFetchedFields (nil: the job has no such field; then its size when it is too big to hand over),
// then 0; or 1 and how many children to read; or 2 and its children's three hashes.
Status decode_fetched(const std::vector<Reply>& list, std::vector<FetchedJob>& jobs) {
  std::size_t i = 0;
  const auto has = [&](std::size_t n) { return list.size() - i >= n; };
  while (i < list.size()) {
    if (!has(5) || !list[i + 3].is_array()) return fail(malformed("fetched job"));
    const auto& values = list[i + 3].elements;
    if (values.size() != kFetchedFields.size() && values.size() != kFetchedFields.size() + 1) {
      return fail(malformed("fetched job's fields (" + std::to_string(values.size()) + " values, not " +
                            std::to_string(kFetchedFields.size()) + ")"));
    }
    FetchedJob job;
    job.queue = list[i].str;
    job.id = list[i + 1].str;
    job.token = list[i + 2].str;
    for (std::size_t f = 0; f < kFetchedFields.size(); ++f) {
      if (!values[f].is_nil()) job.fields.emplace(kFetchedFields[f], values[f].str);
    }
    if (values.size() > kFetchedFields.size()) job.fields.emplace(kOversizeField, values.back().str);
    const Reply& follows = list[i + 4];
    i += 5;
    if (follows.type != Reply::Type::integer) return fail(malformed("fetched job's children"));
    if (follows.integer == 1 && has(1)) {
      job.children_to_read = list[i++].integer;
    } else if (follows.integer == 2 && has(3)) {
      job.succeeded = pairs_of(list[i]);
      job.failed = pairs_of(list[i + 1]);
      for (auto& [k, v] : pairs_of(list[i + 2])) job.errors.emplace(std::move(k), std::move(v));
      i += 3;
    } else if (follows.integer != 0) {
      return fail(malformed("fetched job's children"));
    }
    jobs.push_back(std::move(job));
  }
  return {};
}

}  // namespace

std::string FetchedJob::field(const std::string& name, const std::string& fallback) const {
  auto it = fields.find(name);
  return it == fields.end() ? fallback : it->second;
}

long long FetchedJob::number(const std::string& name, long long fallback) const {
  auto it = fields.find(name);
  return it == fields.end() ? fallback : to_ll(it->second, fallback);
}

Result<StepReply> decode_step_reply(const Reply& r) {
  if (!r.is_array() || r.elements.size() != 5) return fail(malformed("not a five-part array"));
  StepReply out;
  for (const auto& g : r.elements[0].elements) {
    if (g.elements.size() != 2) return fail(malformed("refused group"));
    out.refused.emplace_back(g.elements[0].integer, g.elements[1].integer);
  }
  if (auto st = decode_fetched(r.elements[1].elements, out.jobs); !st) return fail(std::move(st.error()));
  for (const auto& d : r.elements[2].elements) {
    if (d.elements.size() != 2) return fail(malformed("due time"));
    out.next_due.emplace_back(d.elements[0].str, d.elements[1].integer);
  }
  for (const auto& l : r.elements[3].elements) {
    if (l.elements.size() != 2) return fail(malformed("limited queue"));
    out.limited.emplace_back(l.elements[0].str, l.elements[1].integer);
  }
  for (const auto& q : r.elements[4].elements) out.full.push_back(q.str);
  return out;
}

}  // namespace am2z::redis
