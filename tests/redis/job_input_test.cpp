// Reading fetched jobs: every field is outside input, decoded with limits, never trusted.
#include "core/redis/job_input.hpp"

#include <doctest/doctest.h>

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace job_input_test {

using namespace am2z;
using namespace am2z::redis;

namespace {

FetchedJob job_with(std::unordered_map<std::string, std::string> fields) {
  FetchedJob j;
  j.queue = "bull:f.a:";
  j.id = "7";
  j.fields = std::move(fields);
  return j;
}

const char* kEnvelope = R"({"am2z":{"run":"abc","flow":"f","fh":"h","node":"n.0","sess":"s1"}})";

}  // namespace

TEST_CASE("a job nested 100,000 levels deep fails with a reason instead of overflowing the stack") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const char* field : {"data", "opts"}) {
    auto job = job_with({{"opts", "{}"}, {"data", "{}"}});
    job.fields[field] = deep;
    JobRead r = read_job(job, JobLimits{}, KeySpace{});
    REQUIRE(r.error);
    CHECK(r.error->message.find(std::string("bull:f.a:7 ") + field) != std::string::npos);
    CHECK(r.error->message.find("nested deeper than 512 levels") != std::string::npos);
  }
}

TEST_CASE("numbers out of range and broken JSON in a job are reasons, not exceptions") {
  JobRead r = read_job(job_with({{"opts", "{}"}, {"data", R"({"a":1e400})"}}), JobLimits{}, KeySpace{});
  REQUIRE(r.error);
  CHECK(r.error->message.find("number out of range") != std::string::npos);
  JobRead s = read_job(job_with({{"opts", "{\"attempts\": 3,"}, {"data", "{}"}}), JobLimits{}, KeySpace{});
  REQUIRE(s.error);
  CHECK(s.error->message.find("bull:f.a:7 opts") != std::string::npos);
  JobRead t = read_job(job_with({{"opts", "[1]"}, {"data", "{}"}}), JobLimits{}, KeySpace{});
  REQUIRE(t.error);
  CHECK(t.error->message.find("must be a JSON object, found array") != std::string::npos);
}

TEST_CASE("a job the step script held back as oversized fails unrun, and its run can still be told") {
  auto job = job_with({{"am2z:oversize", "52428800"}, {"opts", kEnvelope}});
  JobRead r = read_job(job, JobLimits{1024, kMaxJsonDepth}, KeySpace{});
  REQUIRE(r.error);
  CHECK(r.error->message.find("is 52428800 bytes") != std::string::npos);
  CHECK(r.error->message.find("1024-byte limit") != std::string::npos);
  REQUIRE(r.envelope);
  CHECK(r.envelope->run == "abc");
  // Options too big to send: nothing to tell, still a clear reason.
  JobRead s = read_job(job_with({{"am2z:oversize", "99999999"}}), JobLimits{}, KeySpace{});
  REQUIRE(s.error);
  CHECK_FALSE(s.envelope);
  CHECK_FALSE(s.foreign);
}

TEST_CASE("a job over the byte limit is refused even when the step script did not mark it") {
  // Appended rather than `std::string(2000, ' ') + "{}"`, which GCC 12 flags falsely (-Warray-bounds).
  std::string data(2000, ' ');
  data += "{}";
  JobRead r = read_job(job_with({{"opts", "{}"}, {"data", data}}), JobLimits{1024, 512}, KeySpace{});
  REQUIRE(r.error);
  CHECK(r.error->message.find("more than the limit of 1024") != std::string::npos);
}

TEST_CASE("an am2z job yields its envelope and state; a foreign job is marked foreign") {
  JobRead r = read_job(job_with({{"opts", kEnvelope}, {"data", R"({"x":1})"}}), JobLimits{}, KeySpace{});
  REQUIRE_FALSE(r.error);
  REQUIRE(r.envelope);
  CHECK_FALSE(r.foreign);
  REQUIRE(r.state);
  CHECK(r.state->data["x"] == 1);
  CHECK(r.state->meta.session_id == "s1");
  JobRead f = read_job(job_with({{"opts", R"({"attempts":3})"}, {"data", R"({"y":2})"}}), JobLimits{}, KeySpace{});
  REQUIRE_FALSE(f.error);
  CHECK(f.foreign);
  CHECK(f.state->meta.session_id == "job-7");
}

TEST_CASE("options of foreign jobs are read defensively") {
  CHECK(int_option(Json::parse(R"({"attempts":1e300})"), "attempts", 1) == 1);
  CHECK(int_option(Json::parse(R"({"attempts":"3"})"), "attempts", 1) == 1);
  CHECK(int_option(Json::parse(R"({"attempts":18446744073709551615})"), "attempts", 1) == (1LL << 62));
  CHECK(retention(Json::parse(R"({"removeOnComplete":{"count":5,"age":1e300}})"), "removeOnComplete", true) == "c5a0");
  auto child = job_with({{"parentKey", "bull:p:1"}, {"parent", std::string(5000, '[')}});
  CHECK_FALSE(foreign_parent(child, JobLimits{}));
  auto good = job_with({{"parentKey", "bull:p:1"}, {"parent", R"({"id":"1","queueKey":"bull:p","fpof":true})"}});
  auto p = foreign_parent(good, JobLimits{});
  REQUIRE(p);
  CHECK(p->queue == "bull:p:");
  CHECK(p->on_failure == OpList::ChildEnd::fail_parent);
}

TEST_CASE("ids with ':' are refused, except a BullMQ job scheduler's own") {
  auto job = job_with({{"opts", "{}"}, {"data", "{}"}});
  job.id = "a:b";
  JobRead r = read_job(job, JobLimits{}, KeySpace{});
  REQUIRE(r.error);
  CHECK(r.error->message.find("has an id with ':'") != std::string::npos);
  job.id = "repeat:tick:1700000000000";
  job.fields["rjk"] = "tick";
  JobRead s = read_job(job, JobLimits{}, KeySpace{});
  CHECK_FALSE(s.error);
  CHECK(s.foreign);
  job.fields.erase("rjk");  // the shape alone is not enough
  CHECK(read_job(job, JobLimits{}, KeySpace{}).error);
  job.fields["rjk"] = "tick";
  job.id = "repeat:tick\n1";
  CHECK(read_job(job, JobLimits{}, KeySpace{}).error);
}

}  // namespace job_input_test
