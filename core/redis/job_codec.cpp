#include "core/redis/job_codec.hpp"

#include <charconv>

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
  for (const auto& j : r.elements[1].elements) {
    if (j.elements.size() < 4) return fail(malformed("fetched job"));
    FetchedJob job;
    job.queue = j.elements[0].str;
    job.id = j.elements[1].str;
    job.token = j.elements[2].str;
    const auto& flat = j.elements[3].elements;
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2) job.fields.emplace(flat[i].str, flat[i + 1].str);
    if (j.elements.size() == 5) {
      job.children_to_read = j.elements[4].integer;
    } else if (j.elements.size() >= 7) {
      job.succeeded = pairs_of(j.elements[4]);
      job.failed = pairs_of(j.elements[5]);
      for (auto& [k, v] : pairs_of(j.elements[6])) job.errors.emplace(std::move(k), std::move(v));
    }
    out.jobs.push_back(std::move(job));
  }
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
