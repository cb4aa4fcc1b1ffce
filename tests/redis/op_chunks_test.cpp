// Big groups in chunks (core/redis/op_chunks): a batch's items go ahead in calls of at most
// kMaxAddsPerCall jobs, each checking the finishing job is still ours; sent again (a lost reply,
// or planned again after the worker died) they add nothing twice; the join, created last, is
// released at once when its children all ended before it existed.
#include "core/redis/op_chunks.hpp"

#include <doctest/doctest.h>

#include "core/redis/planner.hpp"
#include "core/redis/scripts.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace op_chunks_test {

using namespace am2z;
using namespace am2z::redis;

namespace {

const char* kBatchAfterStep = R"(
version: 1
name: h
processors:
  a: {use: set, with: {values: {a: 1}}}
  p: {use: set, with: {values: {p: 1}}}
flow:
  chain:
    - a
    - batch: p
      items: .xs
)";

std::shared_ptr<const PlannedFlow> plan(const std::string& yaml) {
  ProcessorRegistry registry;
  register_builtins(registry);
  LoadResult loaded = load_flow_text(yaml, "test.yaml", registry, ".");
  REQUIRE(loaded.ok());
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace{});
}

/// Step n.0 (job `self_key`, locked with `token`) finished with `items` items in .xs: its group,
/// with the batch's jobs deferred to a feed when there are more than kMaxAddsPerCall.
FedGroup finish_with_batch(const PlannedFlow& flow, int items, const std::string& token) {
  Envelope self;
  self.run = "r1";
  self.reply = "reply";
  self.node = "n.0";
  State s;
  Json xs = Json::array();
  for (int i = 0; i < items; ++i) xs.push_back(i);
  s.data = Json{{"xs", xs}};
  OpList ops;
  ops.begin_group();
  ops.complete("bull:h.a:", "rr1.n.0", token, 1, 1, "{}", "1");
  Planner(flow).finished(self, "bull:h.a:rr1.n.0", std::move(s), ops);
  auto groups = ops.take_fed_groups();
  REQUIRE(groups.size() == 1);
  return std::move(groups.front());
}

/// What is sent for `g`, in order: its feeds' chunks of at most `max_adds` jobs, then the group.
std::vector<OpGroup> parts_of(FedGroup g, std::size_t max_adds) {
  std::vector<OpGroup> out;
  for (const auto& feed : g.feeds) {
    while (feed->remaining() > 0) out.push_back(next_chunk(*feed, check_of(g.ops), max_adds));
  }
  for (auto& part : chunk_group(std::move(g.ops), max_adds)) out.push_back(std::move(part));
  return out;
}

std::size_t count_op(const OpGroup& g, const std::string& op) { return std::count(g.begin(), g.end(), op); }

struct Fixture {
  testing::RedisServer server;
  Connection conn{server.endpoint(), ConnectOptions{}};
  std::shared_ptr<const PlannedFlow> flow = plan(kBatchAfterStep);

  Reply send(const std::vector<OpGroup>& groups) {
    StepHeader header;
    header.now_ms = 1000;
    header.token_prefix = "t";
    header.run_results = KeySpace{}.run_results();
    auto argv = header.argv();
    for (const auto& g : groups) argv.insert(argv.end(), g.begin(), g.end());
    auto r = run_script(conn, ScriptId::step, argv);
    REQUIRE_MESSAGE(r, r.error().message);
    return *r;
  }
  long long integer(const std::vector<std::string>& argv) {
    auto r = conn.command(argv);
    REQUIRE(r);
    return r->integer;
  }
  /// Step n.0's job, active and locked with `token`.
  void hold(const std::string& token) {
    REQUIRE(conn.command({"HSET", "bull:h.a:rr1.n.0", "name", "a", "data", "{}", "opts", "{}"}));
    REQUIRE(conn.command({"DEL", "bull:h.a:active"}));
    REQUIRE(conn.command({"LPUSH", "bull:h.a:active", "rr1.n.0"}));
    REQUIRE(conn.command({"SET", "bull:h.a:rr1.n.0:lock", token}));
  }
};

}  // namespace

TEST_CASE("a group of at most the chunk's children is sent as it is; a bigger one in chunks, then the rest") {
  auto flow = plan(kBatchAfterStep);
  FedGroup small = finish_with_batch(*flow, static_cast<int>(kMaxAddsPerCall), "tok");
  CHECK(small.feeds.empty());  // planned at once
  CHECK(adds_in(small.ops) == kMaxAddsPerCall + 1);
  auto same = chunk_group(small.ops, 1000);
  REQUIRE(same.size() == 1);
  CHECK(same.front() == small.ops);
  // planned at once, but more than a chunk: sent in chunks all the same
  static_assert(kMaxAddsPerCall == 125);
  auto eager = chunk_group(small.ops, 50);
  REQUIRE(eager.size() == 4);
  CHECK(adds_in(eager[0]) == 50);
  CHECK(adds_in(eager[2]) == 25);

  FedGroup big = finish_with_batch(*flow, 2500, "tok");
  REQUIRE(big.feeds.size() == 1);  // planned a chunk at a time
  CHECK(adds_in(big.ops) == 1);    // the group itself adds only the join
  auto parts = parts_of(std::move(big), 1000);
  REQUIRE(parts.size() == 4);  // 1000 + 1000 + 500 items, then the finish and the join
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    const OpGroup& chunk = parts[i];
    CHECK(std::vector<std::string>(chunk.begin(), chunk.begin() + 5) ==
          std::vector<std::string>{"G", "L", "bull:h.a:", "rr1.n.0", "tok"});
    CHECK(adds_in(chunk) == (i < 2 ? 1000u : 500u));
    CHECK(count_op(chunk, "a") == adds_in(chunk));  // only jobs not there yet
    CHECK(count_op(chunk, "C") == 0);
  }
  const OpGroup& rest = parts[3];
  CHECK(rest[0] == "G");
  CHECK(rest[1] == "C");
  CHECK(adds_in(rest) == 1);  // the join
  CHECK(count_op(rest, "c") == 1);

  CHECK(groups_per_call(parts, 1000) == 1);
  CHECK(groups_per_call(std::span<const OpGroup>(parts).subspan(2), 1000) == 2);  // 500 items, then the rest
  CHECK(groups_per_call(std::span<const OpGroup>(parts).subspan(3), 1000) == 1);
}

TEST_CASE("chunks sent again add nothing twice; chunks of a worker that lost the job add nothing") {
  Fixture f;
  f.hold("tok");
  auto parts = parts_of(finish_with_batch(*f.flow, 2500, "tok"), 1000);
  REQUIRE(parts.size() == 4);
  // Two chunks land, then the worker dies; its job's lock passes to another worker.
  f.send({parts[0]});
  f.send({parts[1]});
  CHECK(f.integer({"LLEN", "bull:h.p:wait"}) == 2000);
  f.hold("tok2");
  // The dead worker's chunk, sent late, is refused: nothing added.
  auto late = f.send({parts[2]});
  REQUIRE(late.elements[0].elements.size() == 1);
  CHECK(late.elements[0].elements[0].elements[1].integer == -6);
  CHECK(f.integer({"LLEN", "bull:h.p:wait"}) == 2000);
  // The new owner plans the step again: every chunk, then the rest.
  for (const auto& part : parts_of(finish_with_batch(*f.flow, 2500, "tok2"), 1000)) {
    auto r = f.send({part});
    CHECK(r.elements[0].elements.empty());
  }
  CHECK(f.integer({"LLEN", "bull:h.p:wait"}) == 2500);  // each item once
  CHECK(f.integer({"SCARD", "bull:h._join:rr1.n.1:dependencies"}) == 2500);
  CHECK(f.integer({"ZCARD", "bull:h._join:waiting-children"}) == 1);
  auto completed = f.conn.command({"ZSCORE", "bull:h.a:completed", "rr1.n.0"});
  REQUIRE(completed);
  CHECK(completed->str == "1000");  // the step completed, by its new owner
  CHECK(f.integer({"EXISTS", "bull:h.a:rr1.n.0:lock"}) == 0);
}

TEST_CASE("a join created after its children all ended is released at once") {
  Fixture f;
  f.hold("tok");
  auto parts = parts_of(finish_with_batch(*f.flow, 1500, "tok"), 1000);
  REQUIRE(parts.size() == 3);
  f.send({parts[0]});
  f.send({parts[1]});
  // Every item ends before the join exists: each delivers its result and leaves the dependencies.
  OpGroup ends{"G"};
  for (int i = 0; i < 1500; ++i) {
    const std::string child = "bull:h.p:" + job_id("r1", "n.1.0", std::to_string(i));
    ends.insert(ends.end(), {"J", "bull:h._join:", "rr1.n.1", child, "{}", "1", ""});
  }
  f.send({ends});
  CHECK(f.integer({"SCARD", "bull:h._join:rr1.n.1:dependencies"}) == 0);
  CHECK(f.integer({"HLEN", "bull:h._join:rr1.n.1:processed"}) == 1500);
  f.send({parts[2]});
  CHECK(f.integer({"ZCARD", "bull:h._join:waiting-children"}) == 0);
  CHECK(f.integer({"LLEN", "bull:h._join:wait"}) == 1);
}

}  // namespace op_chunks_test
