// Values over a chunk kept out of line (core/redis/blobs.hpp; op "B" of lua/step.lua): where
// they are taken from, the names and pointers they get, how long they live, how a blob that is
// not whole refuses its group, and a worker and a submitter end to end: no command writes or
// reads more than a chunk of a run's big input and state, and the run ends with them whole.
#include "core/redis/blobs.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/json_limits.hpp"
#include "core/redis/op_chunks.hpp"
#include "core/redis/run_record.hpp"
#include "core/redis/submitter.hpp"
#include "core/redis/worker.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/redis/step_call_support.hpp"
#include "tests/redis/worker_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace blobs_test {

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::redis::testing_support;
using namespace std::chrono_literals;

namespace {

const std::string kRunId = "0123456789abcdef";
const std::string kRunKey = "am2z:run:" + kRunId;
const std::string kQ = "bull:f.step:";
const std::string kJob = "r" + kRunId + ".n.0";

/// An "A" op adding job `id` of queue kQ with `data`, ready, no parent.
OpGroup add_op(const std::string& id, const std::string& data, const std::string& reuse_from = "") {
  return {"A", kQ, id, "step", data, "{}", "w", "", "", "", "", "0", "0", reuse_from, ""};
}

/// A group of that one op.
OpGroup add_group(const std::string& id, const std::string& data, const std::string& reuse_from = "") {
  OpGroup g{"G"};
  const OpGroup add = add_op(id, data, reuse_from);
  g.insert(g.end(), add.begin(), add.end());
  return g;
}

std::string big(std::size_t bytes, char c = 'x') { return "\"" + std::string(bytes - 2, c) + "\""; }

/// The commands that write a blob, then the group: what a writer sends.
Reply write_and_call(Connection& c, const BlobbedGroup& b) {
  auto written = c.pipeline(b.commands);
  REQUIRE(written);
  for (const auto& r : *written) REQUIRE_MESSAGE(!r.is_error(), r.str);
  return step_call(c, b.group).elements[0];
}

}  // namespace

TEST_CASE("values over a chunk go out of line: which ones, under which names, pointing where") {
  const std::string rv = big(kValueChunkBytes + 1, 'r');
  const std::string data = big(2 * kValueChunkBytes + 7, 'd');
  const std::string input = big(kValueChunkBytes * 3, 'i');
  // "T": how long the finish's returnvalue lives out of line (its worker's word: the run's result TTL)
  OpGroup g{"G", "T", "5000", "C", kQ, kJob, "tok", "1000", "1", rv, "1"};
  const OpGroup add = add_op("r" + kRunId + ".n.1", data);
  g.insert(g.end(), add.begin(), add.end());
  g.insert(g.end(), {"I", kRunKey + ":record", input, "flow", "hash", "session-x", ""});
  auto b = blob_values(g, "c1", "am2z:run:");
  REQUIRE(b);
  const std::string k0 = kRunKey + ":blob:c1:0", k1 = kRunKey + ":blob:c1:1", k2 = kRunKey + ":blob:input";
  // the checks right after "G", one per value, with its chunks' count and its life: the
  // returnvalue's from "T", a job's data and a run's input 30 days (until their job or run ends)
  const OpGroup checks{"G", "B", k0, "2", "5000", "B", k1, "3", "2592000000", "B", k2, "3", "2592000000"};
  REQUIRE(b->group.size() == g.size() + 12);
  CHECK(OpGroup(b->group.begin(), b->group.begin() + 13) == checks);
  // each value's place holds its pointer; the rest is as it was
  const std::size_t shift = 12 + 2;
  CHECK(b->group[shift + 7] == blob_pointer(BlobRef{k0, 2, rv.size()}));
  CHECK(b->group[shift + 9 + 4] == blob_pointer(BlobRef{k1, 3, data.size()}));
  CHECK(b->group[shift + 9 + 15 + 2] == blob_pointer(BlobRef{k2, 3, input.size()}));
  CHECK(b->group[shift + 9 + 15 + 1] == kRunKey + ":record");
  CHECK(b->group[shift + 3] == kJob);
  CHECK(b->group[shift + 8] == "1");
  CHECK(b->group[13] == "T");
  // a pointer is JSON a BullMQ client parses, and reads back as the reference it was made from
  const auto ref = blob_ref(b->group[shift + 7]);
  REQUIRE(ref);
  CHECK(ref->key == k0);
  CHECK(ref->chunks == 2);
  CHECK(ref->bytes == rv.size());
  CHECK(b->group[shift + 7].starts_with("{\"am2zBlob\":{"));
  // the commands: each value's chunks, one RPUSH of at most a chunk each, then a 10-minute expiry
  // (the call that points to the blob sets its life); the input's name is the run's, so a
  // submission sent again writes it whole again (DEL first)
  std::string joined;
  std::size_t pushes = 0;
  for (const auto& command : b->commands) {
    if (command[0] == "RPUSH") {
      CHECK(command[2].size() <= kValueChunkBytes);
      if (command[1] == k1) joined += command[2];
      ++pushes;
    } else if (command[0] == "DEL") {
      CHECK(command == std::vector<std::string>{"DEL", k2});
    } else {
      CHECK(command == std::vector<std::string>{"PEXPIRE", command[1], "600000"});
    }
  }
  CHECK(pushes == 8);
  CHECK(b->commands.size() == 12);
  CHECK(joined == data);
  // without "T" right before it, a returnvalue lives 30 days
  auto untold = blob_values(OpGroup{"G", "C", kQ, kJob, "tok", "1000", "1", rv, "1"}, "c2", "am2z:run:");
  REQUIRE(untold);
  CHECK(untold->group[4] == "2592000000");

  // what stays in line: a value of a chunk or less; a job whose id names no run am2z made (a
  // BullMQ client's own, whose returnvalue its clients read); a join's copy of a child's result
  CHECK_FALSE(
      blob_values(OpGroup{"G", "C", kQ, kJob, "tok", "1000", "1", big(kValueChunkBytes), "1"}, "c", "am2z:run:"));
  CHECK_FALSE(blob_values(OpGroup{"G", "C", kQ, "42", "tok", "1000", "1", rv, "1"}, "c", "am2z:run:"));
  CHECK_FALSE(blob_values(OpGroup{"G", "C", kQ, "rmy-own.id", "tok", "1000", "1", rv, "1"}, "c", "am2z:run:"));
  CHECK_FALSE(blob_values(OpGroup{"G", "J", kQ, "join", kQ + kJob, rv, "1", ""}, "c", "am2z:run:"));
  CHECK_FALSE(blob_values(OpGroup{"G", "I", "elsewhere:record", input, "f", "h", "s", ""}, "c", "am2z:run:"));
}

TEST_CASE("a pointer is only what a writer makes: forged or foreign texts are values") {
  CHECK_FALSE(blob_ref("{\"a\":1}"));
  CHECK_FALSE(blob_ref("\"{\\\"am2zBlob\\\":{}}\""));
  CHECK_FALSE(blob_ref("{\"am2zBlob\":{\"key\":\"k\",\"chunks\":1}}"));
  // its count must be its size's: a forged one cannot make a reader ask for a billion chunks
  CHECK_FALSE(blob_ref("{\"am2zBlob\":{\"bytes\":10,\"chunks\":1000000000,\"key\":\"k\"}}"));
  CHECK_FALSE(blob_ref("{\"am2zBlob\":{\"bytes\":10,\"chunks\":1,\"key\":\"\"}}"));
  CHECK_FALSE(blob_ref("{\"am2zBlob\":{\"bytes\":10,\"chunks\":1,\"key\":\"k\"},\"more\":1}"));
  CHECK(blob_ref("{\"am2zBlob\":{\"bytes\":10,\"chunks\":1,\"key\":\"k\"}}"));
}

TEST_CASE("op B: a whole blob lives as its writer says; X when its job ends; one not whole refuses its group (-9)") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string value = big(kValueChunkBytes + 100);
  const OpGroup g = add_group(kJob, value);
  auto b = blob_values(g, "c1", "am2z:run:");
  REQUIRE(b);
  const std::string blob = kRunKey + ":blob:c1:0";
  CHECK(write_and_call(c, *b).elements.empty());
  // its job waits or runs: 30 days at most
  const long long running = must(c, {"PTTL", blob}).integer;
  CHECK(running > 2591000000LL);
  CHECK(running <= 2592000000LL);
  CHECK(blob_ref(must(c, {"HGET", kQ + kJob, "data"}).str));
  auto read = read_blob(c, *blob_ref(must(c, {"HGET", kQ + kJob, "data"}).str), 1u << 20);
  REQUIRE(read);
  CHECK(*read == value);
  // its job ended: as long as the run's outcome ("0": for ever)
  step_call(c, {"G", "X", blob, "5000"});
  const long long ended = must(c, {"PTTL", blob}).integer;
  CHECK(ended > 0);
  CHECK(ended <= 5000);
  step_call(c, {"G", "X", blob, "0"});
  CHECK(must(c, {"PTTL", blob}).integer == -1);
  // a run's input lives as long as its record: 30 days, then its outcome's TTL
  auto input = blob_values(OpGroup{"G", "I", kRunKey + ":record", value, "flow", "hash", "s", ""}, "c9", "am2z:run:");
  REQUIRE(input);
  CHECK(write_and_call(c, *input).elements.empty());
  CHECK(must(c, {"PTTL", kRunKey + ":blob:input"}).integer > 2591000000LL);
  CHECK(blob_ref(must(c, {"HGET", kRunKey + ":record", "input"}).str)->key == kRunKey + ":blob:input");
  step_call(c, {"G", "O", kRunKey, "{\"ok\":true}", "5000", kRunKey, "", "completed", kRunKey + ":record"});
  CHECK(must(c, {"PTTL", kRunKey + ":blob:input"}).integer <= 5000);
  CHECK(must(c, {"PTTL", kRunKey + ":record"}).integer <= 5000);

  // not whole (a push refused, say for memory): the group is refused, nothing of it written, the
  // blob dropped
  auto cut = blob_values(g, "c3", "am2z:run:");
  REQUIRE(cut);
  REQUIRE(c.pipeline(cut->commands));
  must(c, {"RPOP", kRunKey + ":blob:c3:0"});
  must(c, {"DEL", kQ + kJob});
  auto refused = step_call(c, cut->group).elements[0];
  REQUIRE(refused.elements.size() == 1);
  CHECK(refused.elements[0].elements[0].integer == 1);
  CHECK(refused.elements[0].elements[1].integer == kBlobGoneCode);
  CHECK(must(c, {"EXISTS", kQ + kJob}).integer == 0);
  CHECK(must(c, {"EXISTS", kRunKey + ":blob:c3:0"}).integer == 0);
  // gone altogether (evicted, deleted): the same
  auto gone = blob_values(g, "c4", "am2z:run:");
  REQUIRE(gone);
  auto refusal = step_call(c, gone->group).elements[0];
  REQUIRE(refusal.elements.size() == 1);
  CHECK(refusal.elements[0].elements[1].integer == kBlobGoneCode);
  CHECK(must(c, {"EXISTS", kQ + kJob}).integer == 0);
}

TEST_CASE("reading a blob: whole, or an error naming its key when it is gone, cut or over the limit") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string value = big(kValueChunkBytes * 2 + 1);
  const OpGroup g = add_group(kJob, value);
  auto b = blob_values(g, "c1", "am2z:run:");
  REQUIRE(b);
  CHECK(write_and_call(c, *b).elements.empty());
  const std::string pointer = must(c, {"HGET", kQ + kJob, "data"}).str;
  auto whole = resolve_value(c, pointer, kRunKey, 1u << 20);
  REQUIRE(whole);
  CHECK(*whole == value);
  // a value is itself
  auto plain = resolve_value(c, "{\"a\":1}", kRunKey, 10);
  REQUIRE(plain);
  CHECK(*plain == "{\"a\":1}");
  // only a blob of the run the value belongs to is read: a pointer to another run's blob, or to
  // any other key (a client can add a job with any data), is the text it is
  CHECK(run_key_of_job("am2z:run:", kJob) == kRunKey);
  CHECK(run_key_of_job("am2z:run:", "42").empty());
  CHECK(run_key_of_job("am2z:run:", "rnot-made-by-am2z.n.0").empty());
  for (const std::string& owner : {std::string("am2z:run:fedcba9876543210"), std::string()}) {
    auto other = resolve_value(c, pointer, owner, 1u << 20);
    REQUIRE(other);
    CHECK(*other == pointer);
  }
  const std::string key = kRunKey + ":blob:c1:0";
  auto over = resolve_value(c, pointer, kRunKey, 1000);
  REQUIRE_FALSE(over);
  CHECK(over.error().message.find(key) != std::string::npos);
  CHECK(over.error().message.find("more than the 1000-byte limit") != std::string::npos);
  must(c, {"RPOP", key});
  auto cut = resolve_value(c, pointer, kRunKey, 1u << 20);
  REQUIRE_FALSE(cut);
  CHECK(cut.error().message.find(key) != std::string::npos);
  CHECK(cut.error().message.find("is not whole") != std::string::npos);
  must(c, {"DEL", key});
  auto gone = resolve_value(c, pointer, kRunKey, 1u << 20);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().message.find("'" + key + "': is gone") != std::string::npos);
}

TEST_CASE("a resumed run's step whose earlier returnvalue was kept out of line runs again") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  must(c, {"HSET", kQ + "old-small", "returnvalue", "{\"done\":1}"});
  must(c, {"HSET", kQ + "old-big", "returnvalue", blob_pointer(BlobRef{"am2z:run:x:blob:c:0", 2, 300000})});
  step_call(c, add_group("r" + kRunId + ".a", "{\"in\":1}", "old-small"));
  step_call(c, add_group("r" + kRunId + ".b", "{\"in\":1}", "old-big"));
  CHECK(must(c, {"HGET", kQ + "r" + kRunId + ".a", "data"}).str == "{\"done\":1}");
  CHECK(must(c, {"HGET", kQ + "r" + kRunId + ".a", "am2zReused"}).str == "old-small");
  CHECK(must(c, {"HGET", kQ + "r" + kRunId + ".b", "data"}).str == "{\"in\":1}");
  CHECK(must(c, {"HEXISTS", kQ + "r" + kRunId + ".b", "am2zReused"}).integer == 0);
}

namespace {

const char* const kTwoSteps = R"(
version: 1
name: blobs
processors:
  first: {use: set, with: {values: {first: true}}}
  second: {use: set, with: {values: {second: true}}}
flow:
  chain: [first, second]
)";

std::shared_ptr<const PlannedFlow> two_steps() {
  ProcessorRegistry registry;
  register_builtins(registry);
  LoadResult loaded = load_flow_text(kTwoSteps, "blobs.yaml", registry, ".");
  REQUIRE(loaded.ok());
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace{});
}

/// What SLOWLOG (every command logged) showed of one run with an input of `bytes`, submitted on
/// `submitter`, after its outcome came back whole.
struct Seen {
  std::size_t biggest = 0;  ///< the longest argument of any command
  bool checked = false;     ///< a step call with op "B"
  std::string run_id;
};

Seen run_big(Connection& c, Connection& submitter, const PlannedFlow& flow, std::size_t bytes) {
  log_every_command(c);
  const std::string text(bytes, 'b');
  State input;
  input.data = Json{{"big", text}};
  SubmitOptions options;
  options.keep_record = true;
  auto sub = submit_run(submitter, flow, std::move(input), options);
  REQUIRE_MESSAGE(sub, (sub ? "" : sub.error().message));
  auto out = wait_outcome(c, sub->reply_key, SteadyClock::now() + kWorkerPatience, CancelToken());
  REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  CHECK((*out)["ok"] == true);
  CHECK((*out)["state"]["big"] == text);
  CHECK((*out)["state"]["first"] == true);
  CHECK((*out)["state"]["second"] == true);
  Seen seen;
  seen.run_id = sub->run_id;
  for (const auto& args : logged_commands(c)) {
    for (const auto& a : args) {
      seen.biggest = std::max(seen.biggest, logged_size(a));
      if (args[0] == "FCALL" && a == "B") seen.checked = true;
    }
  }
  return seen;
}

}  // namespace

TEST_CASE("a run with a big input: no command writes or reads more than a chunk of it, and it ends whole") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  auto flow = two_steps();
  RunningWorker worker(quiet_worker(server.endpoint(), "blobs-test"), flow);
  // over a chunk: the outcome staged, the rest out of line
  const Seen seen = run_big(c, c, *flow, 600'000);
  CHECK(seen.checked);
  CHECK(seen.biggest <= kValueChunkBytes);
  // the blobs (input, the first job's data, each step's returnvalue, the second's data) expire
  // with the run's outcome (the data once its job ended, the input once the run did); none is
  // left without an expiry
  const std::string run_key = KeySpace{}.run_result(seen.run_id);
  auto blobs = must(c, {"KEYS", run_key + ":blob:*"}).elements;
  CHECK(blobs.size() == 5);
  const long long outcome_ttl = must(c, {"PTTL", run_key}).integer;
  for (const auto& b : blobs) {
    const long long ttl = must(c, {"PTTL", b.str}).integer;
    CHECK(ttl > 0);
    CHECK(ttl <= outcome_ttl + 1000);
  }
  // what resuming the run reads: its input whole
  auto record = read_run_record(c, KeySpace{}, seen.run_id);
  REQUIRE_MESSAGE(record, (record ? "" : record.error().message));
  REQUIRE(*record);
  CHECK((*record)->input.size() > 600'000);
  const Json recorded = parse_outside_json((*record)->input).value_or(Json());
  CHECK(recorded.dump().find(std::string(600'000, 'b')) != std::string::npos);
  CHECK(recorded.dump().size() == (*record)->input.size());
}

TEST_CASE("writers whose pushes are refused send their values in the call: the run still ends, whole") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  // Neither the submitter nor the worker may RPUSH (their calls use none of their own): each
  // blob is refused, its call refuses the group (-9), and the group goes again with its values.
  must(c, {"ACL", "SETUSER", "nopush", "on", ">pw", "~*", "&*", "+@all", "-rpush"});
  Endpoint limited = server.endpoint();
  limited.user = "nopush";
  limited.password = "pw";
  Connection submitter(limited, ConnectOptions{});
  auto flow = two_steps();
  RunningWorker worker(quiet_worker(limited, "blobs-test"), flow);
  const Seen seen = run_big(c, submitter, *flow, 600'000);
  CHECK(seen.checked);                                    // tried, refused
  CHECK(seen.biggest > 600'000);                          // then sent in the call
  CHECK(must(c, {"KEYS", "*:blob:*"}).elements.empty());  // nothing half-written is left
}

TEST_CASE("a step whose data was kept out of line and is gone fails unrun, naming the job and the key") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  auto flow = two_steps();
  State input;
  input.data = Json{{"big", std::string(300'000, 'g')}};
  auto sub = submit_run(c, *flow, std::move(input), SubmitOptions{});
  REQUIRE_MESSAGE(sub, (sub ? "" : sub.error().message));
  // no worker yet: the first step's data waits out of line; then it is gone (deleted, evicted)
  const std::string job = "bull:blobs.first:r" + sub->run_id + ".n.0";
  const auto ref = blob_ref(must(c, {"HGET", job, "data"}).str);
  REQUIRE(ref);
  must(c, {"DEL", ref->key});
  RunningWorker worker(quiet_worker(server.endpoint(), "blobs-test"), flow);
  auto out = wait_outcome(c, sub->reply_key, SteadyClock::now() + kWorkerPatience, CancelToken());
  REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  CHECK((*out)["ok"] == false);
  const std::string message = (*out)["error"]["message"].get<std::string>();
  CHECK_MESSAGE(
      message.find(job + " data: Validation failed for field '" + ref->key +
                   "': is gone (a value kept out of line lives as long as its run's outcome)") != std::string::npos,
      message);
  CHECK(must(c, {"HGET", job, "atm"}).str == "1");  // no retry: it cannot be read again
}

TEST_CASE("a run record whose input kept out of line is gone: resuming it is an error naming both keys") {
  testing::RedisServer server;
  Connection c(server.endpoint(), ConnectOptions{});
  const std::string value = big(kValueChunkBytes + 100);
  auto input = blob_values(OpGroup{"G", "I", kRunKey + ":record", value, "blobs", "hash", "s", ""}, "c1", "am2z:run:");
  REQUIRE(input);
  CHECK(write_and_call(c, *input).elements.empty());
  auto whole = read_run_record(c, KeySpace{}, kRunId);
  REQUIRE_MESSAGE(whole, (whole ? "" : whole.error().message));
  REQUIRE(*whole);
  CHECK((*whole)->input == value);
  must(c, {"DEL", kRunKey + ":blob:input"});
  auto gone = read_run_record(c, KeySpace{}, kRunId);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().message.find(kRunKey + ":record input: Validation failed for field '" + kRunKey +
                                  ":blob:input': is gone") != std::string::npos);
}

}  // namespace blobs_test
