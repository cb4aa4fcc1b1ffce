// Helpers of the tests that run the step script by hand (ops as core/redis/lua/step.lua reads them).
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/redis/job_codec.hpp"
#include "core/redis/key_space.hpp"
#include "core/redis/op_list.hpp"
#include "core/redis/scripts.hpp"

namespace am2z::redis::testing_support {

/// One step-script call at time 1000 with token prefix "t": the ops after the header, and how
/// many step jobs its fetches may take together.
inline Reply step_call(Connection& c, const std::vector<std::string>& ops, int budget = 0) {
  StepHeader header;
  header.now_ms = 1000;
  header.fetch_budget = budget;
  header.token_prefix = "t";
  header.run_results = KeySpace{}.run_results();
  auto argv = header.argv();
  argv.insert(argv.end(), ops.begin(), ops.end());
  auto r = run_script(c, ScriptId::step, argv);
  REQUIRE_MESSAGE(r, r.error().message);
  return *r;
}

/// The jobs a step-script reply fetched, decoded as the worker decodes them.
inline std::vector<FetchedJob> fetched_jobs(const Reply& r) {
  auto decoded = decode_step_reply(r);
  REQUIRE_MESSAGE(decoded, decoded.error().message);
  return decoded->jobs;
}

/// The ids of the jobs a step-script reply fetched, in order.
inline std::vector<std::string> fetched_ids(const Reply& r) {
  std::vector<std::string> ids;
  for (const auto& job : fetched_jobs(r)) ids.push_back(job.id);
  return ids;
}

/// A command that must succeed: its reply.
inline Reply must(Connection& c, const std::vector<std::string>& args) {
  auto r = c.command(args);
  REQUIRE_MESSAGE(r, r.error().message);
  REQUIRE_MESSAGE(!r->is_error(), r->str);
  return *r;
}

/// A list's elements, head first.
inline std::vector<std::string> list_of(Connection& c, const std::string& key) {
  auto r = c.command({"LRANGE", key, "0", "-1"});
  REQUIRE(r);
  std::vector<std::string> out;
  for (const auto& e : r->elements) out.push_back(e.str);
  return out;
}

}  // namespace am2z::redis::testing_support
