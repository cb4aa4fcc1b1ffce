// The worker in-process against a real Redis: what its observers hear, and flows added and
// removed while it serves. Deadlines are generous (sanitizer builds); nothing asserts a timing.
#include "core/redis/worker.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/redis/submitter.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/redis/worker_support.hpp"
#include "tests/support/redis_server.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace worker_test {

using namespace am2z;
using namespace am2z::redis;
using namespace std::chrono_literals;

namespace {

constexpr auto kPatience = 60s;

std::shared_ptr<const PlannedFlow> plan(const std::string& yaml) {
  ProcessorRegistry registry;
  register_builtins(registry);
  LoadResult loaded = load_flow_text(yaml, "worker_test.yaml", registry, ".");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().to_string()));
  return std::make_shared<const PlannedFlow>(loaded.flow, "hash", KeySpace{});
}

/// `recover` fails its first attempt and succeeds on the second; `broken` always fails.
const char* kFlaky = R"(
version: 1
name: wt-flaky
processors:
  recover:
    use: fail
    with: {error: network, message: "connection reset", times: 1}
    retry: {attempts: 2, backoff: 10ms}
  broken: {use: fail, with: {error: validation, message: "bad input"}}
  mark: {use: set, with: {values: {.ok: true}}}
flow:
  chain:
    - route: .mode
      cases: {recover: recover, broken: broken}
    - mark
)";

std::string one_step_flow(const std::string& name, const std::string& processor) {
  return "version: 1\nname: " + name + "\nprocessors:\n  step: " + processor + "\nflow:\n  chain: [step]\n";
}

/// Every event as "<what> <instance> <attempt>", and the error message of failures.
struct Recorder final : WorkerObserver {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> seen;
  std::vector<std::string> errors;

  void record(const char* what, const StepEvent& e) {
    {
      std::lock_guard lock(mutex);
      seen.push_back(std::string(what) + " " + std::string(e.instance) + " " + std::to_string(e.attempt));
      if (e.error) errors.push_back(e.error->message);
      CHECK(e.flow == std::string_view(e.queue).substr(0, e.flow.size()));
      CHECK_FALSE(e.run_id.empty());
      CHECK(e.started_ms > 0);
      if (std::string_view(what) != "started") CHECK(e.finished_ms >= e.started_ms);
    }
    changed.notify_all();
  }
  void step_started(const StepEvent& e) override { record("started", e); }
  void step_finished(const StepEvent& e) override { record("finished", e); }
  void step_failed(const StepEvent& e) override { record("failed", e); }
  void step_retried(const StepEvent& e) override { record("retried", e); }

  bool saw(const std::string& event) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, kPatience, [&] { return std::ranges::count(seen, event) > 0; });
  }
  long count(const std::string& event) {
    std::lock_guard lock(mutex);
    return std::ranges::count(seen, event);
  }
};

/// A worker serving on its own thread until the fixture goes away.
struct RunningWorker {
  std::unique_ptr<Worker> worker;
  CancelSource stop;
  Status result;
  std::thread thread;

  RunningWorker(const testing::RedisServer& server, std::vector<std::shared_ptr<const PlannedFlow>> flows,
                std::shared_ptr<WorkerObserver> observer = nullptr) {
    WorkerOptions o;
    o.endpoint = server.endpoint();
    o.concurrency = 4;
    o.idle_poll = 200ms;
    o.grace = 10s;
    o.name = "worker-test";
    o.logger = std::make_shared<spdlog::logger>("worker-test", std::make_shared<spdlog::sinks::null_sink_mt>());
    if (observer) o.observers.push_back(std::move(observer));
    auto created = Worker::create(std::move(o), std::move(flows));
    REQUIRE(created);
    worker = std::move(*created);
    thread = std::thread([this] { result = worker->run(stop.token()); });
  }
  ~RunningWorker() {
    stop.cancel("test over");
    thread.join();
    CHECK(result);
  }
};

State input(Json data) {
  State s;
  s.data = std::move(data);
  return s;
}

/// Submits a run and waits for its outcome payload.
Json run_through(const testing::RedisServer& server, const PlannedFlow& flow, Json data) {
  Connection c(server.endpoint(), ConnectOptions{});
  auto sub = submit_run(c, flow, input(std::move(data)), SubmitOptions{});
  REQUIRE(sub);
  auto out = wait_outcome(c, sub->reply_key, SteadyClock::now() + kPatience, CancelToken());
  REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  return *out;
}

}  // namespace

TEST_CASE("observers hear every step start and end: a retry, a success and a failure") {
  testing::RedisServer server;
  auto flow = plan(kFlaky);
  auto recorder = std::make_shared<Recorder>();
  RunningWorker w(server, {flow}, recorder);

  const Json ok = run_through(server, *flow, {{"mode", "recover"}});
  CHECK(ok.value("ok", false));
  CHECK(recorder->saw("finished mark 1"));
  CHECK(recorder->count("started recover 1") == 1);
  CHECK(recorder->count("retried recover 1") == 1);
  CHECK(recorder->count("started recover 2") == 1);
  CHECK(recorder->count("finished recover 2") == 1);

  const Json bad = run_through(server, *flow, {{"mode", "broken"}});
  CHECK_FALSE(bad.value("ok", true));
  CHECK(recorder->saw("failed broken 1"));
  CHECK(recorder->count("started broken 1") == 1);
  CHECK(recorder->count("started mark 1") == 1);  // only the first run got that far
  {
    std::lock_guard lock(recorder->mutex);
    CHECK(std::ranges::count(recorder->errors, "connection reset") == 1);
    CHECK(std::ranges::count(recorder->errors, "bad input") == 1);
  }
  const WorkerStats stats = w.worker->stats();
  CHECK(stats.retried == 1);
  CHECK(stats.failed == 1);
  CHECK(stats.completed == 2);  // recover (second attempt) and mark
}

TEST_CASE("a flow added while the worker serves is served; once removed, its new jobs wait") {
  testing::RedisServer server;
  auto first = plan(one_step_flow("wt-first", "{use: set, with: {values: {.first: true}}}"));
  auto later = plan(one_step_flow("wt-later", "{use: set, with: {values: {.later: true}}}"));
  RunningWorker w(server, {first});
  CHECK(run_through(server, *first, Json::object()).value("ok", false));

  // A job submitted before its flow is added waits for it, then runs.
  Connection c(server.endpoint(), ConnectOptions{});
  auto early = submit_run(c, *later, input(Json::object()), SubmitOptions{});
  REQUIRE(early);
  REQUIRE(w.worker->add_flow(later));
  CHECK(w.worker->queues().size() == 4);
  auto out = wait_outcome(c, early->reply_key, SteadyClock::now() + kPatience, CancelToken());
  REQUIRE(out);
  CHECK((*out)["state"].value("later", false));
  CHECK(run_through(server, *later, Json::object()).value("ok", false));

  // The same flow name planned again claims the same queues.
  auto clash = w.worker->add_flow(plan(one_step_flow("wt-later", "{use: set, with: {values: {.x: 1}}}")));
  REQUIRE_FALSE(clash);
  CHECK(clash.error().category == ErrorCategory::configuration);
  CHECK(clash.error().message.find("claimed twice") != std::string::npos);

  REQUIRE(w.worker->remove_flow("wt-later"));
  CHECK(w.worker->queues().size() == 2);
  CHECK_FALSE(w.worker->remove_flow("wt-later"));
  // A run of the remaining flow ends in a dispatcher turn that began after the removal, so any
  // job submitted after its outcome is fetched, if at all, by turns that know of it.
  CHECK(run_through(server, *first, Json::object()).value("ok", false));
  auto orphan = submit_run(c, *later, input(Json::object()), SubmitOptions{});
  REQUIRE(orphan);
  std::this_thread::sleep_for(1500ms);  // several idle polls and marker waits
  auto pending = read_outcome(c, orphan->reply_key);
  REQUIRE(pending);
  CHECK_FALSE(pending->has_value());
  auto waiting = c.command({"LLEN", later->processor_keys("step") + "wait"});
  REQUIRE(waiting);
  CHECK(waiting->integer == 1);

  // Served again, it runs.
  REQUIRE(w.worker->add_flow(later));
  out = wait_outcome(c, orphan->reply_key, SteadyClock::now() + kPatience, CancelToken());
  REQUIRE(out);
  CHECK(out->value("ok", false));
}

TEST_CASE("a job running when its flow is removed finishes and is recorded") {
  testing::RedisServer server;
  auto slow = plan(one_step_flow("wt-slow", "{use: sleep, with: {duration: 300ms}}"));
  auto recorder = std::make_shared<Recorder>();
  RunningWorker w(server, {slow}, recorder);
  Connection c(server.endpoint(), ConnectOptions{});
  auto sub = submit_run(c, *slow, input(Json::object()), SubmitOptions{});
  REQUIRE(sub);
  REQUIRE(recorder->saw("started step 1"));
  REQUIRE(w.worker->remove_flow("wt-slow"));
  auto out = wait_outcome(c, sub->reply_key, SteadyClock::now() + kPatience, CancelToken());
  REQUIRE(out);
  CHECK(out->value("ok", false));
  CHECK(recorder->saw("finished step 1"));
}

namespace {
/// A run submitted with the reply list of many runs "am2z:replies" (SubmitOptions::reply_key).
Submission submit_to_shared_replies(Connection& c, const PlannedFlow& flow) {
  SubmitOptions shared;
  shared.reply_key = "am2z:replies";
  auto sub = submit_run(c, flow, input(Json::object()), shared);
  REQUIRE(sub);
  return *sub;
}
}  // namespace

TEST_CASE("a run whose outcome goes to a reply list of many runs: its own key still gives it") {
  testing::RedisServer server;
  auto flow = plan(one_step_flow("wt-shared", "{use: set, with: {values: {.done: true}}}"));
  RunningWorker w(server, {flow}, std::make_shared<Recorder>());
  Connection c(server.endpoint(), ConnectOptions{});
  auto sub = submit_to_shared_replies(c, *flow);
  CHECK(sub.reply_key == "am2z:replies");
  auto out = wait_outcome(c, "am2z:replies", SteadyClock::now() + kPatience, CancelToken());
  REQUIRE(out);
  CHECK(out->value("ok", false));
  // what `am2z result` and `am2z dlq` read: the run's own key, where the outcome is a string
  const std::string own = KeySpace{}.run_result(sub.run_id);
  auto type = c.command({"TYPE", own});
  REQUIRE(type);
  CHECK(type->str == "string");
  auto kept = read_outcome(c, own);
  REQUIRE(kept);
  REQUIRE(kept->has_value());
  CHECK((**kept)["state"]["done"] == true);
  auto waited = wait_outcome(c, own, SteadyClock::now() + kPatience, CancelToken());
  REQUIRE(waited);
  CHECK((*waited)["run"] == sub.run_id);
  // a key of another type is an error naming it, not a crash or a wait
  REQUIRE(c.command({"HSET", "am2z:not-a-run", "f", "v"}));
  auto wrong = wait_outcome(c, "am2z:not-a-run", SteadyClock::now() + kPatience, CancelToken());
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().message.find("GET am2z:not-a-run: WRONGTYPE") != std::string::npos);
  auto wrong_read = read_outcome(c, "am2z:not-a-run");
  REQUIRE_FALSE(wrong_read);
  CHECK(wrong_read.error().message.find("am2z:not-a-run") != std::string::npos);
}

TEST_CASE("a run of a shared reply list whose step is given back while it runs still ends once") {
  // the step's lock lapses mid-step (a frozen worker, say): stalled recovery gives the job back,
  // the worker fetches it again and runs it after the first run, whose finish is refused
  testing::RedisServer server;
  auto flow = plan(one_step_flow("wt-redo", "{use: sleep, with: {duration: 300ms}}"));
  RunningWorker w(server, {flow}, std::make_shared<Recorder>());
  Connection c(server.endpoint(), ConnectOptions{});
  auto sub = submit_to_shared_replies(c, *flow);
  const std::string q = flow->processor_keys("step");
  std::string id;
  for (auto until = SteadyClock::now() + kPatience; id.empty() && SteadyClock::now() < until;) {
    auto active = c.command({"LRANGE", q + "active", "0", "-1"});
    if (active && active->elements.size() == 1 &&
        c.command({"EXISTS", q + active->elements[0].str + ":lock"})->integer == 1)
      id = active->elements[0].str;
    else
      std::this_thread::sleep_for(2ms);
  }
  REQUIRE_FALSE(id.empty());
  testing_support::give_back_to_wait(c, q, id);
  auto out = wait_outcome(c, "am2z:replies", SteadyClock::now() + kPatience, CancelToken());
  REQUIRE(out);
  CHECK(out->value("ok", false));
  std::this_thread::sleep_for(800ms);                        // both runs of the step have ended by now
  CHECK(c.command({"LLEN", "am2z:replies"})->integer == 1);  // one outcome: the refused finish wrote none
  auto kept = read_outcome(c, KeySpace{}.run_result(sub.run_id));
  REQUIRE(kept);
  REQUIRE(kept->has_value());
  CHECK((**kept)["run"] == sub.run_id);
  CHECK(c.command({"HGET", q + id, "ats"})->str == "2");  // it did run twice
}

}  // namespace worker_test
