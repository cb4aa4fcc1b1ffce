// What a fetch (op "M" of core/redis/lua/step_fetch.lua) costs in commands: the usual queue has
// nothing in prioritized, so one ZCARD says so and the whole round comes from wait at once (one
// LMPOP under 8 jobs, LRANGE and one LTRIM from 8 on, then one LPUSH); the fair-queuing state is
// not touched then, and a stale one left by a fetch that took the last fair job exactly is dropped
// at the next fair job's enqueue. A worker's count may include jobs it would hold for a slot
// (--prefetch): while prioritized holds jobs the fetch takes only those it can start, and the
// jobs it can start are shared by the call's fetches from every queue.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/redis/step_call_support.hpp"
#include "tests/redis/worker_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace fetch_commands_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;

namespace {

std::vector<std::string> add_op(const std::string& id, const std::string& session,
                                const std::string& queue = "bull:q:") {
  return {"G", "A", queue, id, "s", "{}", "{}", "w", "", "", "", session, "0", "0", "", ""};
}

/// The queues a step-script reply names as full: more may be waiting than it took.
std::vector<std::string> full_queues(const Reply& r) {
  auto decoded = decode_step_reply(r);
  REQUIRE_MESSAGE(decoded, decoded.error().message);
  return decoded->full;
}

}  // namespace

TEST_CASE("a fetch from a queue with nothing prioritized takes its round in one LMPOP, in FIFO order") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  std::vector<std::string> ops;
  for (const std::string id : {"a", "b", "c", "d", "e"}) {
    auto op = add_op(id, "");
    ops.insert(ops.end(), op.begin(), op.end());
  }
  step_call(c, ops);
  must(c, {"CONFIG", "RESETSTAT"});
  for (int budget : {3, 1, 4}) {  // a round of 3, of 1, and one that finds wait short (1 left)
    const Reply r = step_call(c, {"M", "bull:q:", "8", "0", "", "", "", ""}, budget);
    if (budget == 3) CHECK(fetched_ids(r) == std::vector<std::string>{"a", "b", "c"});
    if (budget == 1) CHECK(fetched_ids(r) == std::vector<std::string>{"d"});
    if (budget == 4) CHECK(fetched_ids(r) == std::vector<std::string>{"e"});
  }
  CHECK(list_of(c, "bull:q:active") == std::vector<std::string>{"e", "d", "c", "b", "a"});  // as RPOPLPUSH leaves it
  CHECK(list_of(c, "bull:q:wait").empty());
  CHECK(command_calls(c, "zcard") == 3);  // one look at prioritized per fetch
  CHECK(command_calls(c, "zpopmin") == 0);
  CHECK(command_calls(c, "del") == 0);        // the fair-queuing state is left alone
  CHECK(command_calls(c, "lmpop") == 2);      // the round of 3, and the round of 4 that found 1
  CHECK(command_calls(c, "rpoplpush") == 1);  // a round of one job: d
}

TEST_CASE("a big round from wait goes by LRANGE and one LTRIM, in the order LMPOP would take it") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  std::vector<std::string> ops;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back("j" + std::to_string(100 + i));
    auto op = add_op(ids.back(), "");
    ops.insert(ops.end(), op.begin(), op.end());
  }
  step_call(c, ops);
  must(c, {"CONFIG", "RESETSTAT"});
  const Reply r = step_call(c, {"M", "bull:q:", "16", "0", "", "", "", ""}, 16);
  CHECK(fetched_ids(r) == std::vector<std::string>(ids.begin(), ids.begin() + 16));
  CHECK(command_calls(c, "lrange") == 1);
  CHECK(command_calls(c, "ltrim") == 1);
  CHECK(command_calls(c, "lmpop") == 0);
  CHECK(command_calls(c, "rpoplpush") == 0);
  CHECK(list_of(c, "bull:q:active") == std::vector<std::string>(ids.rend() - 16, ids.rend()));
  CHECK(list_of(c, "bull:q:wait") ==
        std::vector<std::string>{ids[19], ids[18], ids[17], ids[16]});  // the newest, at the head
}

TEST_CASE("a fair job enqueued after the last one was taken exactly starts the fair state afresh") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  for (const std::string id : {"x1", "x2"}) step_call(c, add_op(id, "X"));
  CHECK(must(c, {"HGET", "bull:q:am2z:fair", "X"}).str == "2");
  // a fetch of exactly two: prioritized is empty afterwards, which the fetch did not look at
  Reply r = step_call(c, {"M", "bull:q:", "2", "0", "", "", "", ""}, 2);
  CHECK(fetched_ids(r) == std::vector<std::string>{"x1", "x2"});
  CHECK(must(c, {"EXISTS", "bull:q:am2z:fair"}).integer == 1);  // stale: X's tag and the virtual time 2
  step_call(c, add_op("y1", "Y"));
  CHECK(must(c, {"HGET", "bull:q:am2z:fair", "X"}).is_nil());  // X's tag went with the stale state
  CHECK(must(c, {"HGET", "bull:q:am2z:fair", "Y"}).str == "1");
  CHECK(must(c, {"ZSCORE", "bull:q:prioritized", "y1"}).str == "1");
  // while jobs are queued the state is kept: a second session's job is tagged after the first's
  step_call(c, add_op("y2", "Y"));
  step_call(c, add_op("z1", "Z"));
  CHECK(must(c, {"HGET", "bull:q:am2z:fair", "Y"}).str == "2");
  CHECK(must(c, {"ZSCORE", "bull:q:prioritized", "z1"}).str == "1");
  r = step_call(c, {"M", "bull:q:", "8", "0", "", "", "", ""}, 8);
  CHECK(fetched_ids(r) == std::vector<std::string>{"y1", "z1", "y2"});
  CHECK(must(c, {"EXISTS", "bull:q:am2z:fair"}).integer == 0);  // ran dry under a pop: gone at once
}

TEST_CASE("a fetch holds no job beyond those the worker can start while jobs wait in prioritized") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  std::vector<std::string> ops;
  for (int i = 0; i < 10; ++i) {
    auto op = add_op("w" + std::to_string(i), "");
    ops.insert(ops.end(), op.begin(), op.end());
  }
  step_call(c, ops);
  // nothing prioritized: the whole count, held jobs included (6 asked, 2 startable)
  Reply r = step_call(c, {"M", "bull:q:", "6", "0", "", "", "", "2"}, 6);
  CHECK(fetched_ids(r) == std::vector<std::string>{"w0", "w1", "w2", "w3", "w4", "w5"});
  // a named session's job waits: only the two startable, one from each source
  step_call(c, add_op("f1", "S"));
  step_call(c, add_op("f2", "S"));
  r = step_call(c, {"M", "bull:q:", "6", "0", "", "", "", "2"}, 6);
  auto ids = fetched_ids(r);
  REQUIRE(ids.size() == 2);
  CHECK(std::count(ids.begin(), ids.end(), "f1") == 1);
  CHECK(full_queues(r) == std::vector<std::string>{"bull:q:"});
  // none startable: none taken, the queue said full (the worker asks again when a slot frees) and
  // its marker set for another worker
  must(c, {"DEL", "bull:q:marker"});
  r = step_call(c, {"M", "bull:q:", "6", "0", "", "", "", "0"}, 6);
  CHECK(fetched_ids(r).empty());
  CHECK(full_queues(r) == std::vector<std::string>{"bull:q:"});
  CHECK(must(c, {"ZCARD", "bull:q:marker"}).integer == 1);
  CHECK(must(c, {"ZCARD", "bull:q:prioritized"}).integer == 1);
  // no limit given: the whole count again, prioritized or not
  r = step_call(c, {"M", "bull:q:", "6", "0", "", "", "", ""}, 6);
  CHECK(fetched_ids(r).size() == 4);  // f2 and the three left in wait
  CHECK(full_queues(r).empty());
}

TEST_CASE("a call's fetches share the jobs the worker can start: queues whose jobs are not held") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  std::vector<std::string> ops;
  for (const std::string q : {"bull:a:", "bull:b:", "bull:c:"}) {
    for (int i = 0; i < 3; ++i) {
      auto op = add_op(q.substr(5, 1) + std::to_string(i), "", q);
      ops.insert(ops.end(), op.begin(), op.end());
    }
  }
  step_call(c, ops);
  // budget 6 with 2 to start: a takes 2, b none (reported full, to be asked again), c (its jobs
  // may be held, nothing prioritized) up to what is left of the budget
  const Reply r = step_call(c, {"M", "bull:a:", "2", "0", "", "", "", "2",  //
                                "M", "bull:b:", "2", "0", "", "", "", "2",  //
                                "M", "bull:c:", "6", "0", "", "", "", "2"},
                            6);
  CHECK(fetched_ids(r) == std::vector<std::string>{"a0", "a1", "c0", "c1", "c2"});
  CHECK(full_queues(r) == std::vector<std::string>{"bull:a:", "bull:b:"});
  CHECK(must(c, {"LLEN", "bull:b:wait"}).integer == 3);
}

}  // namespace fetch_commands_test
