#include "core/redis/job_input.hpp"

#include <algorithm>

namespace am2z::redis {

Result<Json> parse_job_field(const FetchedJob& job, const std::string& name, std::string_view fallback,
                             const JobLimits& limits) {
  auto it = job.fields.find(name);
  const std::string_view text = it == job.fields.end() ? fallback : std::string_view(it->second);
  auto parsed = parse_outside_json(text, JsonLimits{limits.max_depth, limits.max_bytes});
  if (parsed) return std::move(*parsed);
  const JsonProblem& p = parsed.error();
  const bool syntax = p.kind == JsonProblem::Kind::syntax;
  std::string where;
  if (p.offset != std::string_view::npos && p.offset > 0) where = " (at byte " + std::to_string(p.offset) + ")";
  return fail(errors::validation(job.key() + " " + name, nullptr,
                                 (syntax ? "is not valid JSON" : "cannot be read") + where + ": " + p.reason));
}

long long int_option(const Json& j, const char* key, long long fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return fallback;
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!(d > -9.0e18 && d < 9.0e18)) return fallback;  // NaN, infinities and what a long long cannot hold
    return static_cast<long long>(d);
  }
  return it->is_number_unsigned() ? static_cast<long long>(std::min<std::uint64_t>(it->get<std::uint64_t>(), 1ULL << 62))
                                  : it->get<long long>();
}

std::string retention(const Json& opts, const char* key, bool worker_keeps) {
  auto it = opts.is_object() ? opts.find(key) : opts.end();
  if (it == opts.end()) return worker_keeps ? "1" : "0";
  if (it->is_boolean()) return it->get<bool>() ? "0" : "1";
  if (it->is_number_integer()) {
    return "c" + std::to_string(std::max<long long>(int_option(opts, key, -1), -1)) + "a0";
  }
  if (it->is_object()) {
    return "c" + std::to_string(std::max(-1LL, int_option(*it, "count", -1))) + "a" +
           std::to_string(std::clamp(int_option(*it, "age", 0), 0LL, 1LL << 40));
  }
  return worker_keeps ? "1" : "0";
}

std::optional<ForeignParent> foreign_parent(const FetchedJob& job, const JobLimits& limits) {
  if (job.field("parentKey").empty()) return std::nullopt;
  auto parsed = parse_job_field(job, "parent", "{}", limits);
  if (!parsed) return std::nullopt;
  const Json& p = *parsed;
  if (!p.is_object() || !p.contains("id") || !p["id"].is_string() || !p.contains("queueKey") ||
      !p["queueKey"].is_string()) {
    return std::nullopt;
  }
  ForeignParent out{p["queueKey"].get<std::string>() + ":", p["id"].get<std::string>()};
  auto flag = [&](const char* k) { return p.contains(k) && p[k].is_boolean() && p[k].get<bool>(); };
  if (flag("fpof")) {
    out.on_failure = OpList::ChildEnd::fail_parent;
    out.wait_on_failure = false;
  } else if (flag("cpof")) {
    out.on_failure = OpList::ChildEnd::continue_parent;
    out.wait_on_failure = false;
  } else if (flag("idof")) {
    out.wait_on_failure = false;
  } else if (flag("rdof")) {
    out.on_failure = OpList::ChildEnd::removed;
    out.wait_on_failure = false;
  }
  return out;
}

JobRead read_job(const FetchedJob& job, const JobLimits& limits, const KeySpace& keys) {
  JobRead out;
  const bool oversize = job.fields.contains(kOversizeField);
  // The step script held an oversized job back but kept its options when they were small, so
  // the run can still be told why its step failed.
  if (!oversize || job.fields.contains("opts")) {
    auto opts = parse_job_field(job, "opts", "{}", limits);
    if (!opts) {
      out.error = std::move(opts.error());
      return out;
    }
    if (!opts->is_object()) {
      out.error = errors::validation(job.key() + " opts", nullptr,
                                     std::string("must be a JSON object, found ") + opts->type_name());
      return out;
    }
    out.opts = std::move(*opts);
  }
  if (auto am2z = out.opts.find("am2z"); am2z != out.opts.end()) {
    auto env = Envelope::from_json(*am2z, keys);
    if (!env) {
      Error e = std::move(env.error());
      e.message = job.key() + ": " + e.message;
      out.error = std::move(e);
      // A job that names its run still ends that run, with this reason.
      auto run = am2z->is_object() ? am2z->find("run") : am2z->end();
      if (run != am2z->end() && run->is_string() && is_run_id(run->get<std::string>())) {
        Envelope partial;
        partial.run = run->get<std::string>();
        partial.reply = keys.run_result(partial.run);
        out.envelope = std::move(partial);
        out.envelope_partial = true;
      }
      return out;
    }
    out.envelope = std::move(*env);
  } else {
    out.foreign = !oversize || job.fields.contains("opts");
  }
  if (oversize) {
    out.error = errors::validation(job.key(), nullptr,
                                   "is " + job.field(kOversizeField) + " bytes (data and opts), more than the " +
                                       std::to_string(limits.max_bytes) +
                                       "-byte limit of this worker (--max-job-size): it is not run");
    return out;
  }
  // BullMQ refuses ':' in the ids clients give; its job schedulers' own ids have it
  // ("repeat:<scheduler>:<ms>", with the scheduler in field rjk).
  const bool scheduled = job.fields.contains("rjk") && job.id.starts_with("repeat:");
  if (job.id.find_first_of(scheduled ? "\r\n" : ":\r\n") != std::string::npos) {
    out.error = errors::validation(job.key(), nullptr, "has an id with ':' or a line break, which BullMQ ids cannot have");
    return out;
  }
  if (!job.fields.contains("data")) {
    out.error = errors::validation(job.key() + " data", nullptr, "is missing: not a job BullMQ or am2z wrote");
    return out;
  }
  auto data = parse_job_field(job, "data", "{}", limits);
  if (!data) {
    out.error = std::move(data.error());
    return out;
  }
  const std::string session = out.envelope && !out.envelope->session.empty() ? out.envelope->session : "job-" + job.id;
  auto state = State::from_json(std::move(*data), session);
  if (!state) {
    Error e = std::move(state.error());
    e.message = job.key() + " data: " + e.message;
    out.error = std::move(e);
    return out;
  }
  out.state = std::move(*state);
  return out;
}

}  // namespace am2z::redis
