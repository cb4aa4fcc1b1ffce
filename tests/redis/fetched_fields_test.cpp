// What a fetch (op "M" of core/redis/lua/step_fetch.lua) hands the worker of a job's hash: the
// values of kFetchedFields by position (one HMGET, no field names), decoded back under their
// names; a job too big to hand over without its data, with its size; a hash that has none of
// data, opts and timestamp still handed over (the worker fails it with an error naming it), and an
// id with no hash at all dropped from active.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/redis/step_call_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace fetched_fields_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;

namespace {

/// One fetch of up to `count` jobs from bull:q: with a budget as big, by a call whose largest job
/// handed over whole is `max_bytes`.
std::vector<FetchedJob> fetch(Connection& c, int count, std::size_t max_bytes = 16u << 20) {
  StepHeader header;
  header.now_ms = 1000;
  header.fetch_budget = count;
  header.token_prefix = "t";
  header.max_job_bytes = max_bytes;
  header.run_results = KeySpace{}.run_results();
  auto argv = header.argv();
  for (const std::string& a : std::vector<std::string>{"M", "bull:q:", std::to_string(count), "0", "", "", "", ""}) {
    argv.push_back(a);
  }
  auto r = run_script(c, ScriptId::step, argv);
  REQUIRE_MESSAGE(r, r.error().message);
  return fetched_jobs(*r);
}

}  // namespace

TEST_CASE("a fetch hands over every field the worker reads under its own name, and none it does not") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  std::vector<std::string> hset{"HSET", "bull:q:a", "name", "s", "delay", "0", "priority", "0", "stc", "1"};
  for (const std::string field : kFetchedFields) {
    hset.push_back(field);
    if (field == "ats") {
      hset.push_back("7");
    } else if (field == "parent") {
      hset.push_back(R"({"id":"x","queueKey":"bull:p"})");
    } else if (field == "parentKey") {
      hset.push_back("bull:p:x");
    } else {
      hset.push_back("value of " + field);
    }
  }
  must(c, hset);
  must(c, {"RPUSH", "bull:q:wait", "a"});
  const auto jobs = fetch(c, 1);
  REQUIRE(jobs.size() == 1);
  const FetchedJob& job = jobs[0];
  CHECK(job.id == "a");
  CHECK(job.token == "t:0");
  CHECK(job.fields.size() == kFetchedFields.size());
  CHECK(job.field("data") == "value of data");
  CHECK(job.field("opts") == "value of opts");
  CHECK(job.field("timestamp") == "value of timestamp");
  CHECK(job.field("atm") == "value of atm");
  CHECK(job.number("ats") == 7);  // as read, before this start counted it
  CHECK(job.field("defa") == "value of defa");
  CHECK(job.field("am2zReused") == "value of am2zReused");
  CHECK(job.field("rjk") == "value of rjk");
  CHECK(job.field("parent") == R"({"id":"x","queueKey":"bull:p"})");
  CHECK(job.field("parentKey") == "bull:p:x");
  for (const char* unread : {"name", "delay", "priority", "stc", "processedOn", "pb"}) {
    CHECK_FALSE(job.fields.contains(unread));
  }
  CHECK_FALSE(job.fields.contains(kOversizeField));
  CHECK(must(c, {"HGET", "bull:q:a", "ats"}).str == "8");
  CHECK(must(c, {"GET", "bull:q:a:lock"}).str == "t:0");
}

TEST_CASE("a job too big to hand over comes without its data (and opts, when they are too big), with its size") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string big(300, 'x');
  must(c, {"HSET", "bull:q:a", "data", big, "opts", "{}", "timestamp", "5", "atm", "2"});
  must(c, {"HSET", "bull:q:b", "data", "{}", "opts", big, "timestamp", "5"});
  must(c, {"HSET", "bull:q:c", "data", std::string(100, 'y'), "opts", "{}", "timestamp", "5"});
  must(c, {"RPUSH", "bull:q:wait", "c", "b", "a"});  // taken from the tail: a first
  const auto jobs = fetch(c, 3, 200);
  REQUIRE(jobs.size() == 3);
  CHECK(jobs[0].id == "a");
  CHECK(jobs[0].field(kOversizeField) == "302");
  CHECK_FALSE(jobs[0].fields.contains("data"));
  CHECK(jobs[0].field("opts") == "{}");
  CHECK(jobs[0].field("atm") == "2");
  CHECK(jobs[1].field(kOversizeField) == "302");
  CHECK_FALSE(jobs[1].fields.contains("data"));
  CHECK_FALSE(jobs[1].fields.contains("opts"));
  CHECK(jobs[1].field("timestamp") == "5");
  CHECK_FALSE(jobs[2].fields.contains(kOversizeField));  // 102 bytes: within the limit
  CHECK(jobs[2].field("data").size() == 100);
}

TEST_CASE("a hash with none of data, opts and timestamp is still a job; an id with no hash is dropped") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  must(c, {"HSET", "bull:q:odd", "name", "s"});
  must(c, {"RPUSH", "bull:q:wait", "odd", "gone"});  // "gone" is taken first, and has no hash
  const auto jobs = fetch(c, 2);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].id == "odd");
  CHECK(jobs[0].fields.empty());  // the worker reports the missing data
  CHECK(must(c, {"HGET", "bull:q:odd", "ats"}).str == "1");
  CHECK(list_of(c, "bull:q:active") == std::vector<std::string>{"odd"});
  CHECK(must(c, {"EXISTS", "bull:q:gone"}).integer == 0);  // not made by the fetch's writes
}

}  // namespace fetched_fields_test
