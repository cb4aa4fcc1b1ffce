// A run's outcome over kValueChunkBytes whose submitter waits on the run's own key is staged ahead of
// its call (op_chunks.hpp, StagedOutcome; op "o" of lua/step.lua): pushed by plain commands to a
// list, a header and then chunks of kValueChunkBytes, then renamed into place by the step
// function, so the megabytes never become a Lua string (which Redis's Lua hashes byte by byte)
// and no command writes or reads more than a chunk. Still one outcome per run, behind the
// finish's ownership check; a staged list that is gone or incomplete refuses the group (-8).
#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <string>
#include <thread>
#include <vector>

#include "core/redis/op_chunks.hpp"
#include "core/redis/submitter.hpp"
#include "core/redis/worker.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/redis/step_call_support.hpp"
#include "tests/redis/worker_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace staged_outcome_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;
using namespace std::chrono_literals;

namespace {

const std::string kQ = "bull:f.join:";
const std::string kRun = "am2z:run:r1";

std::string big_payload(std::size_t bytes) {
  return "{\"ok\":true,\"run\":\"r1\",\"state\":{\"xs\":\"" + std::string(bytes, 'x') + "\"}}";
}

/// The outcome group chunk_group sends ahead of the finish of job j1 (locked with "tok"): the
/// ownership check, then "O reply payload ttl runKey session end record".
OpGroup ahead(const std::string& payload, const std::string& reply = kRun, const std::string& ttl = "0",
              const std::string& session = "", const std::string& record = "") {
  return {"G", "L", kQ, "j1", "tok", "O", reply, payload, ttl, kRun, session, "completed", record};
}

void hold(Connection& c) {
  must(c, {"HSET", kQ + "j1", "name", "join", "data", "{}", "opts", "{}"});
  must(c, {"LPUSH", kQ + "active", "j1"});
  must(c, {"SET", kQ + "j1:lock", "tok"});
}

long long blocked_clients(Connection& c) {
  const std::string info = must(c, {"INFO", "clients"}).str;
  const auto at = info.find("blocked_clients:");
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + 16));
}

/// The run's outcome as its submitter reads it.
Json outcome_of(Connection& c) {
  auto out = read_outcome(c, kRun);
  REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  REQUIRE(*out);
  return std::move(**out);
}

/// Runs the staging commands, then the staged group: the step call's refusals.
Reply stage_and_send(Connection& c, const StagedOutcome& s) {
  auto staged = c.pipeline(s.commands);
  REQUIRE(staged);
  for (const auto& r : *staged) REQUIRE_MESSAGE(!r.is_error(), r.str);
  return step_call(c, std::vector<std::string>(s.group.begin(), s.group.end())).elements[0];
}

}  // namespace

TEST_CASE("an outcome sent ahead is staged only when it is over kValueChunkBytes and goes to the run's own key") {
  const std::string payload = big_payload(4 * kValueChunkBytes);
  auto s = stage_outcome(ahead(payload), "c7");
  REQUIRE(s);
  const std::string key = kRun + ":staged:c7";
  // a header, then the text in chunks of kValueChunkBytes (the last one shorter), then the expiry
  const std::size_t chunks = payload.size() / kValueChunkBytes + 1;
  REQUIRE(chunks == 5);
  REQUIRE(s->commands.size() == chunks + 2);
  CHECK(s->commands[0] == std::vector<std::string>{"RPUSH", key, outcome_chunks_header(chunks, payload.size())});
  CHECK(s->commands[0][2] == "{\"am2zChunks\":5,\"bytes\":" + std::to_string(payload.size()) + "}");
  std::string joined;
  for (std::size_t i = 1; i <= chunks; ++i) {
    REQUIRE(s->commands[i].size() == 3);
    CHECK(s->commands[i][0] == "RPUSH");
    CHECK(s->commands[i][1] == key);
    CHECK(s->commands[i][2].size() == (i < chunks ? kValueChunkBytes : payload.size() % kValueChunkBytes));
    joined += s->commands[i][2];
  }
  CHECK(joined == payload);
  CHECK(s->commands.back() == std::vector<std::string>{"PEXPIRE", key, std::to_string(kStagedOutcomeTtlMs)});
  CHECK(s->group == OpGroup{"G", "L", kQ, "j1", "tok", "o", kRun, key, "0", kRun, "", "completed", ""});
  CHECK(op_arity("o") == op_arity("O"));

  // a reply list that collects many runs' outcomes gets the payload itself
  CHECK_FALSE(stage_outcome(ahead(payload, "am2z:replies:batch"), "c7"));
  // a payload of kValueChunkBytes or less travels in the call
  CHECK_FALSE(stage_outcome(ahead(std::string(kValueChunkBytes, 'x')), "c7"));
  // anything else: a finish, an outcome with no ownership check before it
  CHECK_FALSE(stage_outcome(OpGroup{"G", "C", kQ, "j1", "tok", "1000", "1", payload, "1"}, "c7"));
  CHECK_FALSE(stage_outcome(OpGroup{"G", "O", kRun, payload, "0", kRun, "", "cancelled", ""}, "c7"));
}

TEST_CASE("a staged outcome becomes the run's outcome whole and wakes the submitter blocked on it") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  hold(c);
  const std::string payload = big_payload(kValueChunkBytes + 10);
  auto s = stage_outcome(ahead(payload), "c1");
  REQUIRE(s);
  std::string received;
  std::thread waiter([&] {
    Connection w(server.endpoint(), ConnectOptions{});
    auto r = wait_outcome(w, kRun, SteadyClock::now() + 20s, CancelToken());
    if (r) received = r->dump();
  });
  // the waiter is blocked before the outcome lands
  for (int i = 0; i < 400 && blocked_clients(c) == 0; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(blocked_clients(c) == 1);
  CHECK(stage_and_send(c, *s).elements.empty());
  waiter.join();
  CHECK(received == payload);  // the same JSON text: dump() writes it as it was built
  CHECK(must(c, {"LLEN", kRun}).integer == 1 + static_cast<long long>(payload.size() / kValueChunkBytes + 1));
  CHECK(must(c, {"EXISTS", kRun + ":staged:c1"}).integer == 0);
  CHECK(must(c, {"EXISTS", kQ + "j1:lock"}).integer == 1);  // the finish comes after it
}

TEST_CASE("a staged outcome keeps the run's expiry, ends its session's run and makes its record expire with it") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  hold(c);
  must(c, {"ZADD", "am2z:session:s1:running", "1", "r1"});
  must(c, {"HSET", "am2z:session:s1", "ttl", "0"});
  must(c, {"HSET", "am2z:run:r1:record", "input", "{}"});
  const std::string payload = big_payload(kValueChunkBytes + 1);
  auto s = stage_outcome(ahead(payload, kRun, "5000", "s1", "am2z:run:r1:record"), "c2");
  REQUIRE(s);
  CHECK(stage_and_send(c, *s).elements.empty());
  CHECK(outcome_of(c).dump() == payload);
  const long long ttl = must(c, {"PTTL", kRun}).integer;
  CHECK(ttl > 0);
  CHECK(ttl <= 5000);  // the run's, not the staging's 10 minutes
  CHECK(must(c, {"PTTL", "am2z:run:r1:record"}).integer > 0);
  CHECK(must(c, {"ZSCORE", "am2z:session:s1:running", "r1"}).is_nil());
  CHECK(must(c, {"HGET", "am2z:session:s1", "completed"}).str == "1");

  // with no expiry asked ("0"), the outcome does not keep the staging's
  must(c, {"DEL", kRun});
  auto forever = stage_outcome(ahead(payload), "c3");
  REQUIRE(forever);
  CHECK(stage_and_send(c, *forever).elements.empty());
  CHECK(must(c, {"PTTL", kRun}).integer == -1);
}

TEST_CASE("a run that has an outcome keeps it: the staged one is dropped") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  hold(c);
  must(c, {"LPUSH", kRun, "the first outcome"});
  auto s = stage_outcome(ahead(big_payload(kValueChunkBytes + 5)), "c4");
  REQUIRE(s);
  CHECK(stage_and_send(c, *s).elements.empty());
  CHECK(list_of(c, kRun) == std::vector<std::string>{"the first outcome"});
  CHECK(must(c, {"EXISTS", kRun + ":staged:c4"}).integer == 0);
  // a key of another type there counts as an outcome too
  must(c, {"DEL", kRun});
  must(c, {"SET", kRun, "a string"});
  auto again = stage_outcome(ahead(big_payload(kValueChunkBytes + 5)), "c5");
  REQUIRE(again);
  CHECK(stage_and_send(c, *again).elements.empty());
  CHECK(must(c, {"GET", kRun}).str == "a string");
}

TEST_CASE("a staged list that is gone when its call runs refuses the group (-8) and writes nothing") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  hold(c);
  auto s = stage_outcome(ahead(big_payload(kValueChunkBytes + 5)), "c6");
  REQUIRE(s);
  // staged, then evicted or deleted before the call
  REQUIRE(c.pipeline(s->commands));
  must(c, {"DEL", kRun + ":staged:c6"});
  auto refused = step_call(c, std::vector<std::string>(s->group.begin(), s->group.end())).elements[0];
  REQUIRE(refused.elements.size() == 1);
  CHECK(refused.elements[0].elements[0].integer == 1);
  CHECK(refused.elements[0].elements[1].integer == kStagedOutcomeGoneCode);
  CHECK(must(c, {"EXISTS", kRun}).integer == 0);
  // incomplete: one of its pushes was refused (for memory, say) and the ones after it were not
  auto partial = stage_outcome(ahead(big_payload(kValueChunkBytes + 5)), "c9");
  REQUIRE(partial);
  REQUIRE(c.pipeline(partial->commands));
  must(c, {"LREM", kRun + ":staged:c9", "1", partial->commands[2][2]});
  auto incomplete = step_call(c, std::vector<std::string>(partial->group.begin(), partial->group.end())).elements[0];
  REQUIRE(incomplete.elements.size() == 1);
  CHECK(incomplete.elements[0].elements[1].integer == kStagedOutcomeGoneCode);
  CHECK(must(c, {"EXISTS", kRun}).integer == 0);
  CHECK(must(c, {"EXISTS", kRun + ":staged:c9"}).integer == 0);  // dropped, not left to expire
  // a worker that lost the job stages nothing into place either
  must(c, {"SET", kQ + "j1:lock", "another-worker"});
  auto lost = stage_outcome(ahead(big_payload(kValueChunkBytes + 5)), "c8");
  REQUIRE(lost);
  auto refusal = stage_and_send(c, *lost);
  REQUIRE(refusal.elements.size() == 1);
  CHECK(refusal.elements[0].elements[1].integer == -6);
  CHECK(must(c, {"EXISTS", kRun}).integer == 0);
}

TEST_CASE("a chunked outcome that lost chunks, or a forged header, is an error naming the key, not a crash") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  hold(c);
  const std::string payload = big_payload(4 * kValueChunkBytes + 5);
  auto s = stage_outcome(ahead(payload), "c10");
  REQUIRE(s);
  CHECK(stage_and_send(c, *s).elements.empty());
  CHECK(outcome_of(c).dump() == payload);
  // its last chunks gone (expired, replaced while it was read): the reader says so
  must(c, {"LTRIM", kRun, "0", "2"});
  auto cut = read_outcome(c, kRun);
  REQUIRE_FALSE(cut);
  CHECK(cut.error().message.find("the outcome at " + kRun + " is " + std::to_string(2 * kValueChunkBytes) +
                                 " bytes in its chunks, not the " + std::to_string(payload.size()) +
                                 " its header names") != std::string::npos);
  auto waited = wait_outcome(c, kRun, SteadyClock::now() + 5s, CancelToken());
  REQUIRE_FALSE(waited);
  CHECK(waited.error().message.find("bytes in its chunks") != std::string::npos);
  // a header whose count does not match its size (a forged one asking for a billion chunks) is
  // no header: the element is read as an outcome, which it is not
  must(c, {"DEL", kRun});
  must(c, {"RPUSH", kRun, "{\"am2zChunks\":1000000000,\"bytes\":10}"});
  auto forged = read_outcome(c, kRun);
  REQUIRE_FALSE(forged);
  CHECK(forged.error().message.find("is not a run outcome") != std::string::npos);
  CHECK(forged.error().message.find(kRun) != std::string::npos);
}

namespace {

/// A one-step flow whose final state is its input and `.done`.
std::shared_ptr<const PlannedFlow> one_step() {
  ProcessorRegistry registry;
  register_builtins(registry);
  LoadResult loaded =
      load_flow_text("version: 1\nname: staged\nflow:\n  use: set\n  with:\n    values:\n      .done: true\n",
                     "staged.yaml", registry, ".");
  REQUIRE(loaded.ok());
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace{});
}

/// What the step calls and the stagings of one run with a state over kValueChunkBytes showed in
/// SLOWLOG (every command logged), after its outcome came back whole.
struct Seen {
  bool staged = false;           ///< an RPUSH to a staging list
  bool renamed = false;          ///< a step call with op "o"
  bool in_call = false;          ///< a step call with op "O"
  std::size_t biggest_push = 0;  ///< the longest value one staging RPUSH wrote
};

Seen run_big(Connection& c, const PlannedFlow& flow) {
  log_every_command(c);
  const std::string big(kValueChunkBytes + 1000, 'b');
  State input;
  input.data = Json{{"big", big}};
  auto sub = submit_run(c, flow, std::move(input), SubmitOptions{});
  REQUIRE(sub);
  auto out = wait_outcome(c, sub->reply_key, SteadyClock::now() + kWorkerPatience, CancelToken());
  REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  CHECK((*out)["ok"] == true);
  CHECK((*out)["state"]["big"] == big);
  CHECK((*out)["state"]["done"] == true);
  Seen seen;
  for (const auto& args : logged_commands(c)) {
    if (args.size() > 1 && args[0] == "RPUSH" && args[1].find(":staged:") != std::string::npos) {
      seen.staged = true;
      for (std::size_t i = 2; i < args.size(); ++i)
        seen.biggest_push = std::max(seen.biggest_push, logged_size(args[i]));
    }
    if (args.empty() || args[0] != "FCALL") continue;
    for (const auto& a : args) {
      seen.renamed = seen.renamed || a == "o";
      seen.in_call = seen.in_call || a == "O";
    }
  }
  // nothing staged is left behind
  CHECK(must(c, {"KEYS", "*:staged:*"}).elements.empty());
  return seen;
}

}  // namespace

TEST_CASE("a worker hands over a megabytes-big outcome staged: whole, once, and never inside a step call") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  auto flow = one_step();
  RunningWorker worker(quiet_worker(server.endpoint(), "staged-test"), flow);
  const Seen seen = run_big(c, *flow);
  CHECK(seen.staged);
  CHECK(seen.renamed);
  CHECK_FALSE(seen.in_call);
  CHECK(seen.biggest_push == kValueChunkBytes);  // no command writes more than a chunk
}

TEST_CASE("a worker whose staging fails sends the outcome again inside its call: the run still ends, whole") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  // This worker may not RPUSH (the one-step flow's calls use no RPUSH of their own): its staging
  // is refused, the step call finds no staged list (-8), and the group goes again as "O".
  must(c, {"ACL", "SETUSER", "nopush", "on", ">pw", "~*", "&*", "+@all", "-rpush"});
  Endpoint limited = server.endpoint();
  limited.user = "nopush";
  limited.password = "pw";
  auto flow = one_step();
  RunningWorker worker(quiet_worker(limited, "staged-test"), flow);
  const Seen seen = run_big(c, *flow);
  CHECK_FALSE(seen.staged);  // refused, so never executed
  CHECK(seen.renamed);
  CHECK(seen.in_call);
}

}  // namespace staged_outcome_test
