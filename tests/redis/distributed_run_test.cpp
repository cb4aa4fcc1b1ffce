// Distributed runs through the library (core/redis/distributed_run.hpp): a real Redis and a
// worker in this process, no CLI. Deadlines are generous and nothing asserts how fast a run is,
// so the tests hold under sanitizers.
#include "core/redis/distributed_run.hpp"

#include <doctest/doctest.h>

#include <thread>

#include "core/redis/worker.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace distributed_run_test {

using namespace am2z;
using namespace am2z::redis;

namespace {

/// Long enough for any run here to end on a loaded sanitizer build.
constexpr std::chrono::seconds kGenerous{60};

const char* const kQuick = R"(
version: 1
name: quick
processors:
  first: {use: set, with: {values: {first: true}}}
  second: {use: set, with: {values: {second: true}}}
flow:
  chain: [first, second]
)";

const char* const kFailing = R"(
version: 1
name: failing
processors:
  ok: {use: set, with: {values: {a: 1}}}
  broken: {use: fail, with: {error: business, code: CARD_DECLINED, message: card declined}}
flow:
  chain: [ok, broken, ok]
)";

/// Its nap outlasts every test: the run only ends by a timeout or a cancellation.
const char* const kSlow = R"(
version: 1
name: slow
processors:
  first: {use: set, with: {values: {first: true}}}
  nap: {use: sleep, with: {duration: 10m}}
  last: {use: set, with: {values: {last: true}}}
flow:
  chain: [first, nap, last]
)";

std::shared_ptr<const PlannedFlow> plan(const char* yaml) {
  ProcessorRegistry registry;
  register_builtins(registry);
  LoadResult loaded = load_flow_text(yaml, "test.yaml", registry, ".");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().to_string()));
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace());
}

State input_of(Json data) {
  auto s = State::from_json(std::move(data), "s1");
  REQUIRE(s);
  return std::move(*s);
}

/// A Redis, a worker serving the three flows on a thread of its own (unless told not to), and a
/// connection to submit with.
struct Cluster {
  testing::RedisServer server;
  std::shared_ptr<const PlannedFlow> quick = plan(kQuick);
  std::shared_ptr<const PlannedFlow> failing = plan(kFailing);
  std::shared_ptr<const PlannedFlow> slow = plan(kSlow);
  Connection conn{server.endpoint(), ConnectOptions{}};
  CancelSource stop;
  Status worker_status;  ///< what the worker's run returned; read after the join
  std::thread worker;

  explicit Cluster(bool with_worker = true) {
    if (!with_worker) return;
    WorkerOptions options;
    options.endpoint = server.endpoint();
    options.concurrency = 4;
    options.grace = std::chrono::seconds(5);
    auto created = Worker::create(std::move(options), {quick, failing, slow});
    REQUIRE(created);
    worker = std::thread([this, w = std::move(*created)] { worker_status = w->run(stop.token()); });
  }
  ~Cluster() {
    if (!worker.joinable()) return;
    stop.cancel("test over");
    worker.join();
    CHECK_MESSAGE(worker_status, (worker_status ? "" : worker_status.error().message));
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  Reply command(const std::vector<std::string>& argv) {
    auto r = conn.command(argv);
    REQUIRE(r);
    return std::move(*r);
  }
  long long number(const std::vector<std::string>& argv) { return command(argv).integer; }

  /// Polls until `done` holds or kGenerous passes; false when it never did.
  template <class Pred>
  bool eventually(Pred done) {
    const auto until = SteadyClock::now() + kGenerous;
    while (!done()) {
      if (SteadyClock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
};

WaitOptions generous() {
  WaitOptions w;
  w.timeout = kGenerous;
  return w;
}

}  // namespace

TEST_CASE("a distributed run completes with the flow's final state") {
  Cluster cluster;
  auto run = submit(cluster.conn, *cluster.quick, input_of({{"x", 1}}), {});
  REQUIRE(run);
  CHECK(run->flow == "quick");
  auto done = wait(cluster.conn, *run, generous());
  REQUIRE(done);
  REQUIRE_MESSAGE(done->ok(), done->error->message);
  CHECK(done->run_id == run->run_id);
  CHECK(done->state["x"] == 1);
  CHECK(done->state["first"] == true);
  CHECK(done->state["second"] == true);
  CHECK(done->state["metadata"]["sessionId"] == "s1");
  auto again = outcome(cluster.conn, attach(KeySpace(), run->run_id));  // still readable, from anywhere
  REQUIRE(again);
  REQUIRE(*again);
  CHECK((*again)->state == done->state);
}

TEST_CASE("a failing step's error is the run's outcome") {
  Cluster cluster;
  auto run = submit(cluster.conn, *cluster.failing, input_of(Json::object()), {});
  REQUIRE(run);
  auto done = wait(cluster.conn, *run, generous());
  REQUIRE(done);
  REQUIRE_FALSE(done->ok());
  CHECK(done->error->code == "CARD_DECLINED");
  CHECK(done->error->message == "card declined");
}

TEST_CASE("a caller's timeout ends the run and is recorded as its outcome") {
  Cluster cluster;
  auto run = submit(cluster.conn, *cluster.slow, input_of({{"x", 1}}), {});
  REQUIRE(run);
  WaitOptions brief;
  brief.timeout = std::chrono::milliseconds(300);
  auto gave_up = wait(cluster.conn, *run, brief);
  REQUIRE(gave_up);
  REQUIRE_FALSE(gave_up->ok());
  const Error& e = *gave_up->error;
  CHECK(e.category == ErrorCategory::timeout);
  CHECK(e.message == "'slow' timed out after 300ms");
  CHECK(e.context.value("runId", "") == run->run_id);
  REQUIRE(e.partial_state);
  CHECK(e.partial_state->value("x", 0) == 1);

  auto recorded = outcome(cluster.conn, *run);
  REQUIRE(recorded);
  REQUIRE(*recorded);
  REQUIRE_FALSE((*recorded)->ok());
  CHECK((*recorded)->error->code == e.code);
  CHECK((*recorded)->error->message == e.message);
  // The worker drops the nap and never runs the last step.
  CHECK(cluster.eventually([&] { return cluster.number({"LLEN", "bull:slow.nap:active"}) == 0; }));
  CHECK(cluster.number({"ZCARD", "bull:slow.last:completed"}) == 0);
  CHECK(cluster.number({"LLEN", "bull:slow.last:wait"}) == 0);
}

TEST_CASE("cancel ends a running run") {
  Cluster cluster;
  auto run = submit(cluster.conn, *cluster.slow, input_of(Json::object()), {});
  REQUIRE(run);
  REQUIRE(cluster.eventually([&] { return cluster.number({"LLEN", "bull:slow.nap:active"}) == 1; }));
  REQUIRE(cancel(cluster.conn, *run, errors::cancelled("no longer needed")));
  auto done = wait(cluster.conn, *run, generous());
  REQUIRE(done);
  REQUIRE_FALSE(done->ok());
  CHECK(done->error->category == ErrorCategory::cancelled);
  CHECK(cluster.eventually([&] { return cluster.number({"LLEN", "bull:slow.nap:active"}) == 0; }));
  CHECK(cluster.number({"ZCARD", "bull:slow.last:completed"}) == 0);
}

TEST_CASE("a cancelled wait cancels the run, unless it only reads the run") {
  Cluster cluster;
  auto run = submit(cluster.conn, *cluster.slow, input_of(Json::object()), {});
  REQUIRE(run);
  CancelSource interrupt;
  interrupt.cancel("interrupted");

  WaitOptions reader = generous();
  reader.cancel = interrupt.token();
  reader.end_run_on_give_up = false;
  auto left = wait(cluster.conn, attach(KeySpace(), run->run_id), reader);
  REQUIRE_FALSE(left);
  CHECK(left.error().category == ErrorCategory::cancelled);
  auto still = outcome(cluster.conn, *run);
  REQUIRE(still);
  CHECK_FALSE(*still);  // the run goes on

  WaitOptions owner = generous();
  owner.cancel = interrupt.token();
  auto ended = wait(cluster.conn, *run, owner);
  REQUIRE(ended);
  REQUIRE_FALSE(ended->ok());
  CHECK(ended->error->category == ErrorCategory::cancelled);
  auto recorded = outcome(cluster.conn, *run);
  REQUIRE(recorded);
  REQUIRE(*recorded);
  CHECK((*recorded)->error->category == ErrorCategory::cancelled);
}

TEST_CASE("an input over the workers' job limit is refused before anything is written") {
  Cluster cluster(/*with_worker=*/false);
  DistributedRunOptions options;
  options.max_input_bytes = 1024;
  auto run = submit(cluster.conn, *cluster.quick, input_of({{"blob", std::string(4000, 'y')}}), options);
  REQUIRE_FALSE(run);
  CHECK(run.error().category == ErrorCategory::validation);
  CHECK(run.error().message.find("more than the 1024-byte job limit") != std::string::npos);
  CHECK(cluster.command({"KEYS", "*"}).elements.empty());
}

}  // namespace distributed_run_test
