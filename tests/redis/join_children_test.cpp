// Reading a big join's children in chunks (core/redis/join_children): every field of the three
// hashes, none missed, whatever the chunk, and a clear error when a hash is not one.
#include "core/redis/join_children.hpp"

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace join_children_test {

using namespace am2z;
using namespace am2z::redis;

namespace {

struct Fixture {
  testing::RedisServer server;
  Connection conn{server.endpoint(), ConnectOptions{}};

  void run(const std::vector<std::string>& argv) {
    auto r = conn.command(argv);
    REQUIRE(r);
    REQUIRE_MESSAGE(!r->is_error(), r->str);
  }

  FetchedJob join() {
    FetchedJob job;
    job.queue = "bull:f._join:";
    job.id = "j1";
    return job;
  }

  /// What a worker reads of a big join: its :processed hash scanned to the end (as
  /// ScannedChildren does while merging), then its failures.
  Status read_all(FetchedJob& job, std::size_t chunk) {
    job.succeeded.clear();
    HashScan scan(job.key() + ":processed", chunk);
    while (!scan.done()) {
      auto fields = scan.next(conn);
      if (!fields) return fail(std::move(fields.error()));
      for (auto& kv : *fields) job.succeeded.push_back(std::move(kv));
    }
    return read_join_failures(conn, job, chunk);
  }
};

}  // namespace

TEST_CASE("a join's children are read in chunks: every succeeded, failed and error field, none missed") {
  Fixture f;
  constexpr int kSucceeded = 2500, kFailed = 40;
  for (int i = 0; i < kSucceeded; i += 500) {
    std::vector<std::string> argv{"HSET", "bull:f._join:j1:processed"};
    for (int k = i; k < i + 500; ++k) {
      argv.push_back("bull:f.s:r-n.0-" + std::to_string(k));
      argv.push_back("{\"i\":" + std::to_string(k) + "}");
    }
    f.run(argv);
  }
  for (int k = 0; k < kFailed; ++k) {
    const std::string child = "bull:f.s:r-n.0-x" + std::to_string(k);
    f.run({"HSET", "bull:f._join:j1:failed", child, "boom " + std::to_string(k)});
    f.run({"HSET", "bull:f._join:j1:errors", child, "{\"message\":\"boom\"}"});
  }
  for (std::size_t chunk : {std::size_t{7}, std::size_t{1000}, std::size_t{100000}}) {
    CAPTURE(chunk);
    FetchedJob job = f.join();
    job.succeeded = {{"stale", "x"}};  // whatever the job held is replaced
    REQUIRE(f.read_all(job, chunk));
    std::map<std::string, std::string> seen(job.succeeded.begin(), job.succeeded.end());
    CHECK(job.succeeded.size() >= kSucceeded);  // HSCAN may repeat a field; the join overwrites it
    CHECK(seen.size() == kSucceeded);
    CHECK(seen.at("bull:f.s:r-n.0-1234") == "{\"i\":1234}");
    CHECK(std::set(job.failed.begin(), job.failed.end()).size() == kFailed);
    CHECK(job.errors.size() == kFailed);
    CHECK(job.errors.at("bull:f.s:r-n.0-x7") == "{\"message\":\"boom\"}");
  }
}

TEST_CASE("a join without ended children reads as empty; a hash of the wrong type is an error naming it") {
  Fixture f;
  FetchedJob job = f.join();
  REQUIRE(f.read_all(job, 100));
  CHECK(job.succeeded.empty());
  CHECK(job.failed.empty());
  f.run({"SET", "bull:f._join:j1:failed", "not a hash"});
  auto st = f.read_all(job, 100);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("bull:f._join:j1:failed") != std::string::npos);
  CHECK(st.error().message.find("WRONGTYPE") != std::string::npos);

  // The succeeded children, read while the join merges: not tried again (not a network error)
  f.run({"SET", "bull:f._join:j1:processed", "not a hash"});
  HashScan scan("bull:f._join:j1:processed", 100);
  auto chunk = scan.next(f.conn);
  REQUIRE_FALSE(chunk);
  CHECK(chunk.error().category != ErrorCategory::network);
  CHECK(chunk.error().message.find("bull:f._join:j1:processed") != std::string::npos);
  CHECK(chunk.error().message.find("WRONGTYPE") != std::string::npos);
  CHECK_FALSE(scan.done());
}

TEST_CASE("a hash scan that loses its connection reads on from its cursor on a new one, missing no field") {
  Fixture f;
  constexpr int kFields = 3000;
  for (int i = 0; i < kFields; i += 500) {
    std::vector<std::string> argv{"HSET", "bull:f._join:j1:processed"};
    for (int k = i; k < i + 500; ++k) {
      argv.push_back("c" + std::to_string(k));
      argv.push_back(std::to_string(k));
    }
    f.run(argv);
  }
  HashScan scan("bull:f._join:j1:processed", 100);
  std::set<std::string> seen;
  auto first = scan.next(f.conn);
  REQUIRE(first);
  for (auto& [k, v] : *first) seen.insert(k);
  REQUIRE_FALSE(scan.done());

  Connection doomed(f.server.endpoint(), ConnectOptions{});
  REQUIRE(doomed.connect());
  auto id = doomed.command({"CLIENT", "ID"});
  REQUIRE(id);
  f.run({"CLIENT", "KILL", "ID", std::to_string(id->integer)});
  auto lost = scan.next(doomed);
  REQUIRE_FALSE(lost);
  CHECK(lost.error().category == ErrorCategory::network);

  while (!scan.done()) {  // on another connection, from where it was
    auto chunk = scan.next(f.conn);
    REQUIRE(chunk);
    for (auto& [k, v] : *chunk) seen.insert(k);
  }
  CHECK(seen.size() == kFields);
  auto after = scan.next(f.conn);  // done: nothing more, no command
  REQUIRE(after);
  CHECK(after->empty());
}

}  // namespace join_children_test
