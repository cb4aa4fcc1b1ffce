// A job's start fields (processedOn, pb, ats): written by the fetch, as BullMQ does, except for
// instant steps, whose fetch leaves them to the finish (op "M" with "2", ops "C", "F", "R" with
// "<processedOn>:<ats>"; core/redis/lua/step_fetch.lua). What each op writes, what a refused
// finish leaves, and what a worker's jobs end with.
#include <doctest/doctest.h>

#include <thread>

#include "core/redis/submitter.hpp"
#include "core/redis/worker.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/redis/step_call_support.hpp"
#include "tests/redis/worker_support.hpp"
#include "tests/support/redis_server.hpp"

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;
using namespace std::chrono_literals;

namespace {

const std::string kQueue = "bull:sf.s:";

/// One step-script call by worker "w1" (hash field pb): the ops after the header.
Reply named_call(Connection& c, const std::vector<std::string>& ops, int budget = 0) {
  return step_call(c, ops, budget, "w1");
}

/// A job waiting in kQueue, added at 900.
void add_waiting(Connection& c, const std::string& id) {
  must(c, {"HSET", kQueue + id, "name", "s", "data", "{}", "opts", "{}", "timestamp", "900"});
  must(c, {"LPUSH", kQueue + "wait", id});
}

/// processedOn, ats and pb of a job ("-" for a field it lacks).
std::vector<std::string> start_fields_of(Connection& c, const std::string& id) {
  const Reply r = must(c, {"HMGET", kQueue + id, "processedOn", "ats", "pb"});
  std::vector<std::string> out;
  for (const auto& e : r.elements) out.push_back(e.is_nil() ? "-" : e.str);
  return out;
}

/// Fetches one job of kQueue, withChildren `kind` ("0" or "2"): its lock token.
std::string fetch_one(Connection& c, const std::string& kind) {
  const auto jobs = fetched_jobs(named_call(c, {"M", kQueue, "1", kind, "", "", "", ""}, 1));
  REQUIRE(jobs.size() == 1);
  return jobs.front().token;
}

}  // namespace

TEST_CASE("a fetch of instant steps leaves the start fields to the finish, which writes them") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  add_waiting(c, "late");
  add_waiting(c, "early");
  // "0": written as the job is taken (BullMQ's moveToActive); its finish given none leaves them
  std::string token = fetch_one(c, "0");
  CHECK(start_fields_of(c, "late") == std::vector<std::string>{"1000", "1", "w1"});
  named_call(c, {"G", "C", kQueue, "late", token, "", "1", "{}", "1"});
  CHECK(start_fields_of(c, "late") == std::vector<std::string>{"1000", "1", "w1"});
  // "2": none while it runs; its finish writes the worker's own record of the start
  token = fetch_one(c, "2");
  CHECK(start_fields_of(c, "early") == std::vector<std::string>{"-", "-", "-"});
  CHECK(list_of(c, kQueue + "active") == std::vector<std::string>{"early"});
  const Reply r = named_call(c, {"G", "C", kQueue, "early", token, "990:1", "1", "{}", "1"});
  CHECK(r.elements[0].elements.empty());  // not refused
  CHECK(start_fields_of(c, "early") == std::vector<std::string>{"990", "1", "w1"});
  const Reply done = must(c, {"HMGET", kQueue + "early", "returnvalue", "finishedOn", "atm"});
  CHECK(done.elements[0].str == "{}");
  CHECK(done.elements[1].str == "1000");
  CHECK(done.elements[2].str == "1");
}

TEST_CASE("a failure and a retry write the start fields their fetch left; a deleted job gets none") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  // taken in this order (ids unlike the queue's own keys: "failed" is its set)
  for (const char* id : {"retried", "lost", "dropped"}) add_waiting(c, id);
  std::string token = fetch_one(c, "2");
  named_call(c, {"G", "R", kQueue, "retried", token, "995:1", "1", "boom", "[]", "0"});
  CHECK(start_fields_of(c, "retried") == std::vector<std::string>{"995", "1", "w1"});
  CHECK(must(c, {"HGET", kQueue + "retried", "failedReason"}).str == "boom");
  token = fetch_one(c, "2");
  named_call(c, {"G", "F", kQueue, "lost", token, "996:3", "3", "bad", "[]", "1"});
  CHECK(start_fields_of(c, "lost") == std::vector<std::string>{"996", "3", "w1"});
  token = fetch_one(c, "2");
  named_call(c, {"G", "C", kQueue, "dropped", token, "997:1", "1", "{}", "0"});  // removeOnComplete
  CHECK(must(c, {"EXISTS", kQueue + "dropped"}).integer == 0);
  // the retried job, taken again: the count of starts goes on from what its first finish wrote
  token = fetch_one(c, "2");
  named_call(c, {"G", "C", kQueue, "retried", token, "999:2", "2", "{}", "1"});
  CHECK(start_fields_of(c, "retried") == std::vector<std::string>{"999", "2", "w1"});
}

TEST_CASE("a finish refused for a lost lock writes no start fields; the next start counts as the first") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  add_waiting(c, "j");
  const std::string lost = fetch_one(c, "2");
  give_back_to_wait(c, kQueue, "j");  // stalled recovery, while the step still ran
  const Reply refused = named_call(c, {"G", "C", kQueue, "j", lost, "990:1", "1", "{}", "1"});
  REQUIRE(refused.elements[0].elements.size() == 1);
  CHECK(refused.elements[0].elements[0].elements[1].integer == -2);  // lock missing
  CHECK(start_fields_of(c, "j") == std::vector<std::string>{"-", "-", "-"});
  CHECK(must(c, {"HEXISTS", kQueue + "j", "finishedOn"}).integer == 0);
  // The worker that takes it next read no ats: its start is the first recorded (a worker that
  // dies holding such a job leaves no trace of that start, as README says).
  const auto jobs = fetched_jobs(named_call(c, {"M", kQueue, "1", "2", "", "", "", ""}, 1));
  REQUIRE(jobs.size() == 1);
  CHECK(jobs.front().field("ats", "-") == "-");
  named_call(c, {"G", "C", kQueue, "j", jobs.front().token, "1000:1", "1", "{}", "1"});
  CHECK(start_fields_of(c, "j") == std::vector<std::string>{"1000", "1", "w1"});
}

namespace {

std::shared_ptr<const PlannedFlow> plan(const std::string& name, const std::string& processor) {
  ProcessorRegistry registry;
  register_builtins(registry);
  const std::string yaml = "version: 1\nname: " + name + "\nprocessors:\n  step: " + processor + "\nflow: step\n";
  LoadResult loaded = load_flow_text(yaml, "start_fields_test.yaml", registry, ".");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().to_string()));
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace{});
}

/// The fields of the one job queue q completed.
std::map<std::string, std::string> completed_job(Connection& c, const std::string& q) {
  const Reply ids = must(c, {"ZRANGE", q + "completed", "0", "-1"});
  REQUIRE(ids.elements.size() == 1);
  const Reply fields = must(c, {"HGETALL", q + ids.elements[0].str});
  std::map<std::string, std::string> out;
  for (std::size_t x = 0; x + 1 < fields.elements.size(); x += 2) {
    out[fields.elements[x].str] = fields.elements[x + 1].str;
  }
  return out;
}

}  // namespace

TEST_CASE("a worker's instant step that failed once ends with the start fields of its last attempt") {
  testing::RedisServer server;
  auto flow = plan("sf-flaky", "{use: fail, with: {error: network, times: 1}, retry: {attempts: 2, backoff: 10ms}}");
  RunningWorker w(quiet_worker_options(server, "sf-worker"), flow);
  await_all(server, submit(server, *flow, 1, Json::object()));
  Connection c(server.endpoint(), ConnectOptions{});
  auto job = completed_job(c, "bull:sf-flaky.step:");
  CHECK(job["ats"] == "2");  // both starts counted, each written by its own finish
  CHECK(job["atm"] == "2");
  CHECK(job["pb"] == "sf-worker");
  // as BullMQ's readers expect: timestamp <= processedOn <= finishedOn
  CHECK(std::stoll(job["timestamp"]) <= std::stoll(job["processedOn"]));
  CHECK(std::stoll(job["processedOn"]) <= std::stoll(job["finishedOn"]));
}

TEST_CASE("a worker's step that takes time has its start fields while it runs") {
  testing::RedisServer server;
  auto flow = plan("sf-nap", "{use: sleep, with: {duration: 400ms}}");
  RunningWorker w(quiet_worker_options(server, "sf-worker"), flow);
  const auto replies = submit(server, *flow, 1, Json::object());
  Connection c(server.endpoint(), ConnectOptions{});
  // seen active with processedOn, ats and pb, before it finished
  bool seen = false;
  for (auto until = SteadyClock::now() + kWorkerPatience; !seen && SteadyClock::now() < until;) {
    const Reply active = must(c, {"LRANGE", "bull:sf-nap.step:active", "0", "-1"});
    for (const auto& id : active.elements) {
      const Reply f = must(c, {"HMGET", "bull:sf-nap.step:" + id.str, "processedOn", "ats", "pb", "finishedOn"});
      seen = !f.elements[0].is_nil() && f.elements[1].str == "1" && f.elements[2].str == "sf-worker" &&
             f.elements[3].is_nil();
    }
    if (!seen) std::this_thread::sleep_for(5ms);
  }
  CHECK(seen);
  await_all(server, replies);
  CHECK(completed_job(c, "bull:sf-nap.step:")["ats"] == "1");
}
