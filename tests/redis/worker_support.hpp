// Helpers of the tests that run a Worker in-process against a real Redis: the worker on a
// thread, runs submitted and awaited, and what Redis counted.
#pragma once

#include <doctest/doctest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/redis/submitter.hpp"
#include "core/redis/worker.hpp"
#include "tests/support/redis_server.hpp"

namespace am2z::redis::testing_support {

inline constexpr auto kWorkerPatience = std::chrono::seconds(60);

/// A worker of `concurrency` named `name` on `endpoint` whose log goes nowhere.
inline WorkerOptions quiet_worker(Endpoint endpoint, const std::string& name, int concurrency = 2) {
  WorkerOptions o;
  o.endpoint = std::move(endpoint);
  o.concurrency = concurrency;
  o.name = name;
  o.logger = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::null_sink_mt>());
  return o;
}

/// From now on SLOWLOG keeps every command (up to 100,000), and nothing before.
inline void log_every_command(Connection& c) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"CONFIG", "SET", "slowlog-log-slower-than", "0"},
                                                                {"CONFIG", "SET", "slowlog-max-len", "100000"},
                                                                {"SLOWLOG", "RESET"}}) {
    auto r = c.command(args);
    REQUIRE(r);
    REQUIRE_MESSAGE(!r->is_error(), r->str);
  }
}

/// The arguments of each command SLOWLOG kept (log_every_command), newest first.
inline std::vector<std::vector<std::string>> logged_commands(Connection& c) {
  auto r = c.command({"SLOWLOG", "GET", "100000"});
  REQUIRE(r);
  std::vector<std::vector<std::string>> out;
  for (const auto& entry : r->elements) {
    std::vector<std::string> args;
    for (const auto& a : entry.elements[3].elements) args.push_back(a.str);
    out.push_back(std::move(args));
  }
  return out;
}

/// The size of an argument SLOWLOG logged: it keeps 128 bytes of a longer one and says
/// "... (N more bytes)".
inline std::size_t logged_size(const std::string& logged) {
  const auto at = logged.rfind("... (");
  if (at != 128 || !logged.ends_with(" more bytes)")) return logged.size();
  return 128 + std::stoull(logged.substr(at + 5));
}

/// A worker serving `flows` on its own thread until finish() (or destruction).
struct RunningWorker {
  std::unique_ptr<Worker> worker;
  CancelSource stop;
  Status result;
  std::thread thread;

  RunningWorker(WorkerOptions o, std::vector<std::shared_ptr<const PlannedFlow>> flows) {
    auto created = Worker::create(std::move(o), std::move(flows));
    REQUIRE(created);
    worker = std::move(*created);
    thread = std::thread([this] { result = worker->run(stop.token()); });
  }
  RunningWorker(WorkerOptions o, std::shared_ptr<const PlannedFlow> flow)
      : RunningWorker(std::move(o), std::vector<std::shared_ptr<const PlannedFlow>>{std::move(flow)}) {}
  RunningWorker(const RunningWorker&) = delete;
  RunningWorker& operator=(const RunningWorker&) = delete;
  void finish() {
    if (!thread.joinable()) return;
    stop.cancel("test over");
    thread.join();
    CHECK(result);
  }
  ~RunningWorker() { finish(); }
};

/// What stalled recovery does to an active job of `queue` whose lock lapsed while its step still
/// runs: the lock gone, the job back in wait at the end workers take from, and a worker woken.
inline void give_back_to_wait(Connection& c, const std::string& queue, const std::string& id) {
  for (const std::vector<std::string>& command : {std::vector<std::string>{"DEL", queue + id + ":lock"},
                                                  {"LREM", queue + "active", "1", id},
                                                  {"RPUSH", queue + "wait", id},
                                                  {"ZADD", queue + "marker", "0", "0"}}) {
    auto r = c.command(command);
    REQUIRE(r);
    REQUIRE_FALSE(r->is_error());
  }
}

/// Submits `runs` runs of `flow` with `data`: their reply keys.
inline std::vector<std::string> submit(const testing::RedisServer& server, const PlannedFlow& flow, int runs, Json data,
                                       const SubmitOptions& opts = {}) {
  Connection c(server.endpoint(), ConnectOptions{});
  REQUIRE(c.connect());
  std::vector<std::string> replies;
  for (int i = 0; i < runs; i += 500) {
    std::vector<State> inputs;
    for (int j = i; j < std::min(runs, i + 500); ++j) {
      State s;
      s.data = data;
      inputs.push_back(std::move(s));
    }
    auto subs = submit_runs(c, flow, std::move(inputs), opts);
    REQUIRE(subs);
    for (auto& sub : *subs) replies.push_back(std::move(sub.reply_key));
  }
  return replies;
}

/// Waits for every run's outcome.
inline void await_all(const testing::RedisServer& server, const std::vector<std::string>& replies) {
  Connection c(server.endpoint(), ConnectOptions{});
  REQUIRE(c.connect());
  for (const auto& key : replies) {
    auto out = wait_outcome(c, key, SteadyClock::now() + kWorkerPatience, CancelToken());
    REQUIRE_MESSAGE(out, (out ? "" : out.error().message));
  }
}

/// How many times Redis ran `command` so far (INFO commandstats), e.g. "fcall".
inline long long command_calls(Connection& c, const std::string& command) {
  auto info = c.command({"INFO", "commandstats"});
  REQUIRE(info);
  const std::string tag = "cmdstat_" + command + ":calls=";
  const auto at = info->str.find(tag);
  return at == std::string::npos ? 0 : std::stoll(info->str.substr(at + tag.size()));
}

inline long long int_reply(Connection& c, const std::vector<std::string>& args) {
  auto r = c.command(args);
  REQUIRE(r);
  return r->integer;
}

}  // namespace am2z::redis::testing_support
