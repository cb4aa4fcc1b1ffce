// am2z stats through the library (core/redis/queue_stats, stats_report): queues written in
// BullMQ's layout into a real Redis, read back as counts, a last-minute window and reports.
#include "core/redis/queue_stats.hpp"

#include <doctest/doctest.h>

#include <sstream>

#include "core/redis/stats_report.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace queue_stats_test {

using namespace am2z;
using namespace am2z::redis;

namespace {

/// A fixed "now" (Unix ms), so every window boundary in these tests is exact.
constexpr long long kNow = 1'700'000'000'000;

struct Fixture {
  testing::RedisServer server;
  Connection conn{server.endpoint(), ConnectOptions{}};

  void run(const std::vector<std::vector<std::string>>& commands) {
    auto r = conn.pipeline(commands);
    REQUIRE(r);
    for (const auto& reply : *r) REQUIRE_MESSAGE(!reply.is_error(), reply.str);
  }

  /// Adds a job that ended in `set` ("completed" or "failed") at `finished`, after a step of `took` ms.
  void finished(std::vector<std::vector<std::string>>& out, const std::string& queue, const std::string& id,
                const char* set, long long finished, long long took) {
    const std::string q = "bull:" + queue + ":";
    out.push_back({"HSET", q + id, "name", "step", "processedOn", std::to_string(finished - took), "finishedOn",
                   std::to_string(finished)});
    out.push_back({"ZADD", q + set, std::to_string(finished), id});
  }

  std::vector<QueueStats> stats(const std::vector<std::string>& queues, std::size_t cap = kStatsSampleCap) {
    auto s = queue_stats(conn, KeySpace(), queues, {.sample_cap = cap, .now_ms = kNow});
    REQUIRE(s);
    return std::move(*s);
  }

  std::vector<std::string> discovered(const std::string& prefix = "bull") {
    auto q = discover_queues(conn, KeySpace(prefix));
    REQUIRE(q);
    return std::move(*q);
  }
};

}  // namespace

TEST_CASE("stats: every queue of the prefix is found, and nothing that is not a queue") {
  Fixture f;
  f.run({
      {"ZADD", "bull:order.charge:completed", "1", "r1.0"},  // only completed jobs left
      {"HSET", "bull:order.charge:r1.0", "name", "charge"},
      {"RPUSH", "bull:tenant-a/order.charge:wait", "r2.0"},            // a session queue
      {"HSET", "bull:a@b_c-d:meta", "opts.maxLenEvents", "10000"},     // BullMQ-only, no job yet
      {"XADD", "bull:order._join:events", "*", "event", "completed"},  // jobs removed on completion
      {"SET", "bull:legacy:id", "41"},
      {"SET", "am2z:worker:w1", "{}"},  // am2z's own keys
      {"RPUSH", "am2z:run:abc", "{}"},
      {"ZADD", "am2z:cancelled", "1", "abc"},
      {"RPUSH", "other:elsewhere:wait", "1"},  // another deployment
      {"HSET", "bull:orphan:7", "name", "x"},  // a job hash is not a queue's own key
      {"SET", "bull:order.charge:r1.0:lock", "token"},
      {"ZADD", "bull:served.but.empty:marker", "0", "0"},  // a worker waits on it: no job yet
      {"SET", "bull:served.but.empty:stalled-check", "1"},
  });
  CHECK(f.discovered() ==
        std::vector<std::string>{"a@b_c-d", "legacy", "order._join", "order.charge", "tenant-a/order.charge"});
  CHECK(f.discovered("other") == std::vector<std::string>{"elsewhere"});
}

TEST_CASE("stats: another prefix's own keys and glob characters in the prefix are not queues") {
  Fixture f;
  f.run({
      {"RPUSH", "blue:q:wait", "1"},
      {"SET", "blue:am2z:worker:w1", "{}"},
      {"RPUSH", "blue:am2z:wait", "1"},  // under blue's own root: never a queue, whatever its name
      {"RPUSH", "x1:wrong:wait", "1"},   // matches "x[1]:*" unless '[' is escaped
      {"RPUSH", "x[1]:right:wait", "1"},
  });
  CHECK(f.discovered("blue") == std::vector<std::string>{"q"});
  CHECK(f.discovered("x[1]") == std::vector<std::string>{"right"});
  const KeySpace blue("blue");
  CHECK_FALSE(blue.split_queue_key("blue:am2z:wait"));
  REQUIRE(blue.split_queue_key("blue:q:r1.0:lock"));
  CHECK(blue.split_queue_key("blue:q:r1.0:lock")->first == "q");
}

TEST_CASE("stats: counts per state, waiting including the paused list") {
  Fixture f;
  f.run({
      {"RPUSH", "bull:q:wait", "1", "2", "3"},
      {"RPUSH", "bull:q:paused", "4"},
      {"RPUSH", "bull:q:active", "5", "6"},
      {"ZADD", "bull:q:delayed", "4096", "7"},
      {"ZADD", "bull:q:prioritized", "1", "8", "2", "9", "3", "10"},
      {"ZADD", "bull:q:waiting-children", "1", "11", "2", "12"},
      {"ZADD", "bull:q:completed", "1", "13", "2", "14", "3", "15", "4", "16"},
      {"ZADD", "bull:q:failed", "1", "17"},
  });
  const auto s = f.stats({"q", "empty"});
  REQUIRE(s.size() == 2);
  CHECK(s[0].name == "q");
  CHECK(s[0].counts.waiting == 4);
  CHECK(s[0].counts.active == 2);
  CHECK(s[0].counts.delayed == 1);
  CHECK(s[0].counts.prioritized == 3);
  CHECK(s[0].counts.waiting_children == 2);
  CHECK(s[0].counts.completed == 4);
  CHECK(s[0].counts.failed == 1);
  CHECK(s[0].window.finished() == 0);  // finished in 1970, long before the window
  CHECK(s[1].counts.completed == 0);
}

TEST_CASE("stats: the last minute counts jobs that finished in it, with their step durations") {
  Fixture f;
  std::vector<std::vector<std::string>> jobs;
  for (int i = 1; i <= 99; ++i) f.finished(jobs, "q", "c" + std::to_string(i), "completed", kNow - 10'000 - i, i);
  f.finished(jobs, "q", "f100", "failed", kNow - 50'000, 100);
  for (int i = 0; i < 5; ++i) f.finished(jobs, "q", "old" + std::to_string(i), "completed", kNow - 120'000, 50'000);
  f.finished(jobs, "q", "edge", "failed", kNow - 60'001, 50'000);  // just outside
  f.run(jobs);
  const auto s = f.stats({"q"});
  const WindowStats& w = s[0].window;
  CHECK(w.completed == 99);
  CHECK(w.failed == 1);
  CHECK(w.durations_ms.size() == 100);
  CHECK(w.percentile_ms(50) == 50);
  CHECK(w.percentile_ms(99) == 99);
  CHECK(w.percentile_ms(100) == 100);
  CHECK(w.jobs_per_second() == doctest::Approx(100.0 / 60.0));
  CHECK(s[0].counts.completed == 104);  // the old ones are still there, just not in the window
}

TEST_CASE("stats: at most the sample cap of jobs is read per queue, the newest") {
  Fixture f;
  std::vector<std::vector<std::string>> jobs;
  for (int i = 0; i < 50; ++i) f.finished(jobs, "q", "slow" + std::to_string(i), "completed", kNow - 30'000, 1000);
  for (int i = 0; i < 60; ++i) f.finished(jobs, "q", "fast" + std::to_string(i), "completed", kNow - 1000, 5);
  for (int i = 0; i < 40; ++i) f.finished(jobs, "q", "bad" + std::to_string(i), "failed", kNow - 2000, 7);
  f.run(jobs);
  const auto s = f.stats({"q"}, 100);
  const WindowStats& w = s[0].window;
  CHECK(w.finished() == 150);  // the count stays exact
  CHECK(w.durations_ms.size() == 100);
  CHECK(w.percentile_ms(99) == 7);  // none of the older, slow ones was sampled
  CHECK(w.percentile_ms(50) == 5);
}

TEST_CASE("stats: the default sample cap is 10,000 jobs per queue") {
  Fixture f;
  std::vector<std::vector<std::string>> jobs;
  for (int i = 0; i < 10'050; ++i) f.finished(jobs, "big", std::to_string(i), "completed", kNow - 5000, 3);
  f.run(jobs);
  const auto s = f.stats({"big"});
  CHECK(kStatsSampleCap == 10'000);
  CHECK(s[0].window.completed == 10'050);
  CHECK(s[0].window.durations_ms.size() == 10'000);
}

TEST_CASE("stats: a snapshot adds up queues, lists live workers and prints within 80 columns") {
  Fixture f;
  std::vector<std::vector<std::string>> jobs;
  f.finished(jobs, "order.charge", "1", "completed", kNow - 1000, 10);
  f.finished(jobs, "order.charge", "2", "failed", kNow - 1000, 30);
  f.finished(jobs, "order._join", "3", "completed", kNow - 1000, 20);
  f.finished(jobs, "tenant-with-a-rather-long-name/order.reserve-stock", "4", "completed", kNow - 1000, 40);
  jobs.push_back({"RPUSH", "bull:order.charge:wait", "9"});
  jobs.push_back({"SET", "am2z:worker:w1",
                  R"({"name":"w1","host":"box","pid":42,"concurrency":8,"queues":["order.charge","order._join"],)"
                  R"("started":1000,"seen":3725000,"active":1,"completed":12,"failed":2})"});
  f.run(jobs);
  auto snap = take_snapshot(f.conn, KeySpace(), {.now_ms = kNow});
  REQUIRE(snap);
  CHECK(snap->queues.size() == 3);
  CHECK(snap->totals.counts.completed == 3);
  CHECK(snap->totals.counts.failed == 1);
  CHECK(snap->totals.counts.waiting == 1);
  CHECK(snap->totals.window.durations_ms == std::vector<long long>{10, 20, 30, 40});
  REQUIRE(snap->workers.size() == 1);

  const Json j = to_json(*snap);
  CHECK(j["takenAt"] == kNow);
  CHECK(j["prefix"] == "bull");
  CHECK(j["windowMs"] == 60'000);
  CHECK(j["sampleCap"] == 10'000);
  CHECK(j["queues"][1]["name"] == "order.charge");
  CHECK(j["queues"][1]["waiting"] == 1);
  CHECK(j["queues"][1]["lastMinute"] ==
        Json::parse(R"({"completed":1,"failed":1,"perSecond":0.033,"sampled":2,"p50Ms":10,"p99Ms":30})"));
  CHECK(j["totals"]["queues"] == 3);
  CHECK(j["totals"]["workers"] == 1);
  CHECK(j["totals"]["lastMinute"]["p99Ms"] == 40);
  CHECK(j["workers"][0]["queues"] == Json::array({"order.charge", "order._join"}));
  CHECK(j["workers"][0]["uptimeMs"] == 3'724'000);
  CHECK(j["sessions"] == Json::array());

  const std::string text = to_text(*snap);
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) CHECK_MESSAGE(line.size() < 80, line);
  CHECK(text.find("order._join") != std::string::npos);
  // A name too long for its column is whole, on a line of its own, its numbers aligned below.
  CHECK(text.find("\ntenant-with-a-rather-long-name/order.reserve-stock\n" + std::string(24, ' ') + "       0") !=
        std::string::npos);
  CHECK(text.find("w1") != std::string::npos);
  CHECK(text.find("1h2m") != std::string::npos);  // uptime
  CHECK(text.find("SESSION") == std::string::npos);
  CHECK(summary_line(*snap) ==
        "2023-11-14T22:13:20Z queues=3 waiting=1 active=0 delayed=0 completed=3 failed=1 workers=1 jobs/s=0.07 "
        "p50=20ms p99=40ms");
}

TEST_CASE("stats: sessions show in the text and the JSON") {
  Snapshot s;
  s.taken_at_ms = kNow;
  s.prefix = "bull";
  SessionSummary nightly;
  nightly.id = "nightly";
  nightly.runs = 9;
  nightly.running = 2;
  nightly.completed = 5;
  nightly.failed = 1;
  nightly.cancelled = 1;
  s.sessions.push_back(nightly);
  s.sessions_total = 4;
  const std::string text = to_text(s);
  CHECK(text.find(
            "SESSION   RUNS RUNNING COMPLETED FAILED CANCELLED\nnightly      9       2         5      1         1\n") !=
        std::string::npos);
  CHECK(text.find("(3 more: am2z session list)") != std::string::npos);
  CHECK(text.find("no queues under prefix 'bull'") != std::string::npos);
  CHECK(text.find("no live workers") != std::string::npos);
  const Json j = to_json(s);
  REQUIRE(j["sessions"].size() == 1);
  CHECK(j["sessions"][0]["session"] == "nightly");
  CHECK(j["sessions"][0]["running"] == 2);
  CHECK(j["sessions"][0]["completed"] == 5);
  CHECK(j["sessionsTotal"] == 4);
}

}  // namespace queue_stats_test
