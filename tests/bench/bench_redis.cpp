// Distributed benchmark: `am2z worker` processes against a private Redis, driven through the
// submitter API. One JSON line per scenario:
//   bench_redis AM2Z_BIN FLOWS_DIR REDIS_URL N LAT_N
// Scenarios: process_c8 and process_c64 (N one-step runs prefilled, then one worker process at
// that concurrency drains them; Redis commands counted with INFO commandstats from submit to the
// outcome reaching the submitter), process_4w_c8_remove_on_complete (four worker processes at
// -c 8), process_exec5ms_c8_remove_on_complete (N/10 runs of one exec step of about 5 ms, from
// ../exec_flows), latency (one run at a time, submit to outcome seen),
// chain5_latency (five no-op steps per run, one run at a time), process_c64_events (process_c64
// with the runs' events published), session_stop (a session of N/2 queued one-step runs stopped),
// fairness and fairness_2ms (a small session's p50 run latency alone and behind 5N queued steps of
// another session; no-op steps, and steps of 2 ms), layout_floor_c64 (the same N runs taken and
// finished by a minimal Redis function: the Redis CPU per job of BullMQ's layout alone).
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/redis/sessions.hpp"
#include "core/redis/submitter.hpp"
#include "tests/bench/bench_support.hpp"
#include "tests/bench/layout_floor.hpp"

using namespace am2z;
using namespace am2z::redis;
using Clock = std::chrono::steady_clock;
using namespace am2z::bench;

namespace {

/// What a drain scenario varies: the worker processes, their -c, retention, events.
struct Drain {
  int conc = 8;
  bool remove_on_complete = false;
  bool events = false;
  int workers = 1;
  std::string work{};  ///< what the step does when not a no-op ("exec5ms")
  int prefetch = -1;   ///< the workers' --prefetch; -1: their default (-c, at least 16)

  std::string name() const {
    return std::string("process_") + (work.empty() ? "" : work + "_") +
           (workers > 1 ? std::to_string(workers) + "w_" : "") + "c" + std::to_string(conc) +
           (remove_on_complete ? "_remove_on_complete" : "") + (events ? "_events" : "") +
           (prefetch >= 0 ? "_prefetch" + std::to_string(prefetch) : "");
  }
};

void process_scenario(Connection& c, const std::string& bin, const std::string& dir, const std::string& url,
                      const PlannedFlow& flow, long long n, const Drain& d) {
  const int conc = d.conc;
  const bool events = d.events;
  must(c, {"FLUSHALL"});
  must(c, {"CONFIG", "RESETSTAT"});
  const std::string reply = "am2z:bench:reply";
  submit_numbered_runs(c, flow, n, reply, events);
  const long long add_cmds = server_commands(c);
  // As BullMQ's harness does it (its workers connect and load their scripts before GO, the
  // clock stops at the last job's end): the queues are paused (BullMQ's meta field, which the
  // step's fetch honours) while the workers start, the clock starts when every worker is idle
  // and the queues resume; the outcomes are counted by polling LLEN, which costs the measured
  // Redis nothing per outcome (a BLMPOP per few outcomes cost it 2-4% at -c 8).
  std::vector<std::string> queues;
  for (const auto& name : queues_of(flow)) queues.push_back(flow.keys().queue(name));
  for (const auto& q : queues) must(c, {"HSET", q + "meta", "paused", "1"});
  must(c, {"CONFIG", "RESETSTAT"});  // from here on, the step calls counted are the workers'
  std::vector<WorkerProcess> workers;
  for (int i = 0; i < d.workers; ++i)
    workers.push_back(start_worker(bin, dir, url, conc, d.remove_on_complete, d.prefetch));
  wait_until_idle(c, d.workers);
  must(c, {"CONFIG", "RESETSTAT"});
  const double cpu0 = redis_cpu_us(c);
  const auto t0 = Clock::now();
  for (const auto& q : queues) {
    must(c, {"HDEL", q + "meta", "paused"});
    must(c, {"ZADD", q + "marker", "0", "0"});
  }
  const long long polls = wait_for_length(c, reply, n);
  if (polls < 0) {
    for (auto& w : workers) w.stop();  // no worker outlives the benchmark
    die("timed out waiting for outcomes");
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double redis_cpu = redis_cpu_us(c) - cpu0;
  long long rss = 0;      // the largest worker's
  double worker_cpu = 0;  // all workers together
  for (auto& w : workers) {
    rss = std::max(rss, w.peak_rss_kb());
    w.stop();
    worker_cpu += w.cpu_us;
  }
  // less the harness's own: the resume (two per queue) and the polls
  const long long process_cmds = server_commands(c) - 2 * static_cast<long long>(queues.size()) - polls;
  Json line{{"scenario", d.name()},
            {"system", "am2z"},
            {"workers", d.workers},
            {"concurrency", conc},
            {"jobs", n},
            {"seconds", round3(seconds)},
            {"jobs_per_s", static_cast<long long>(static_cast<double>(n) / seconds)},
            {"p50_ms", nullptr},
            {"p99_ms", nullptr},
            {"redis_cmds_per_job", round3(static_cast<double>(add_cmds + process_cmds) / static_cast<double>(n))},
            {"redis_cmds_per_job_add", round3(static_cast<double>(add_cmds) / static_cast<double>(n))},
            {"redis_cmds_per_job_process", round3(static_cast<double>(process_cmds) / static_cast<double>(n))},
            // while the worker drains the queue (submission not included)
            {"redis_cpu_us_per_job", round3(redis_cpu / static_cast<double>(n))},
            {"worker_cpu_us_per_job", round3(worker_cpu / static_cast<double>(n))},
            {"peak_rss_kb", rss}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

void latency_scenario(Connection& c, const std::string& bin, const std::string& dir, const std::string& url,
                      const PlannedFlow& flow, const std::string& name, long long n) {
  must(c, {"FLUSHALL"});
  WorkerProcess w = start_worker(bin, dir, url, 1, false);      // as BullMQ's latency phase: concurrency 1
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // worker connected and blocked
  SubmitOptions opts;
  std::vector<double> ms;
  long long cmds = 0;
  for (long long i = -5; i < n; ++i) {  // five warm-up runs
    if (i == 0) must(c, {"CONFIG", "RESETSTAT"});
    State s;
    s.data = Json{{"i", i}};
    const auto t0 = Clock::now();
    auto sub = submit_run(c, flow, std::move(s), opts);
    if (!sub) die(sub.error().message);
    auto out = wait_outcome(c, sub->reply_key, SteadyClock::now() + std::chrono::seconds(30), CancelToken());
    if (!out || !out->value("ok", false)) die("run failed: " + (out ? out->dump() : out.error().message));
    if (i >= 0) ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  cmds = server_commands(c);
  const long long rss = w.peak_rss_kb();
  w.stop();
  double total = 0;
  for (double v : ms) total += v;
  Json line{{"scenario", name},
            {"system", "am2z"},
            {"concurrency", 1},
            {"jobs", n},
            {"seconds", round3(total / 1000)},
            {"jobs_per_s", static_cast<long long>(static_cast<double>(n) * 1000.0 / total)},
            {"p50_ms", round3(percentile(ms, 50))},
            {"p99_ms", round3(percentile(ms, 99))},
            {"redis_cmds_per_job", round3(static_cast<double>(cmds) / static_cast<double>(n))},
            {"peak_rss_kb", rss}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

/// `am2z session stop` of a session holding `n` queued steps (n one-step runs, no worker): how
/// long the stop takes, and how many of the session's jobs are left after it.
void session_stop_scenario(Connection& c, const PlannedFlow& flow, long long n) {
  must(c, {"FLUSHALL"});
  SubmitOptions opts;
  opts.session = "big";
  for (long long i = 0; i < n; i += 1000) {
    std::vector<State> batch;
    for (long long j = i; j < std::min(n, i + 1000); ++j) batch.emplace_back();
    if (auto r = submit_runs(c, flow, std::move(batch), opts); !r) die(r.error().message);
  }
  const KeySpace keys;
  const auto t0 = Clock::now();
  auto report = stop_session(c, keys, "big", Millis(0));
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!report) die(report.error().message);
  long long left = 0;  // job hashes of the session's runs still in the queues
  std::string cursor = "0";
  do {
    auto r = c.command({"SCAN", cursor, "MATCH", "bull:*:r*", "COUNT", "1000"});
    if (!r || !r->is_array()) die("SCAN failed");
    cursor = r->elements[0].str;
    left += static_cast<long long>(r->elements[1].elements.size());
  } while (cursor != "0");
  Json line{{"scenario", "session_stop"},
            {"system", "am2z"},
            {"queued", n},
            {"cancelled_runs", report->cancelled_runs.size()},
            {"removed_jobs", report->removed},
            {"seconds", round3(seconds)},
            {"jobs_left", left + c.command({"LLEN", "bull:bench-noop.noop:wait"})->integer}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

/// p50 / p99 submit-to-outcome latency of `runs` one-step runs of session "small", one at a time,
/// on a worker at concurrency 8 (and `prefetch`), with `backlog` queued steps of session "big"
/// ahead of them (0: alone). Fairness is the ratio of the two p50s.
std::pair<double, double> small_session_latency(Connection& c, const std::string& bin, const std::string& dir,
                                                const std::string& url, const PlannedFlow& flow, long long backlog,
                                                int runs, int prefetch) {
  must(c, {"FLUSHALL"});
  SubmitOptions big;
  big.session = "big";
  big.reply_key = "am2z:bench:big";
  big.result_ttl = std::chrono::milliseconds(0);
  for (long long i = 0; i < backlog; i += 1000) {
    std::vector<State> batch(static_cast<std::size_t>(std::min(backlog - i, 1000LL)));
    if (auto r = submit_runs(c, flow, std::move(batch), big); !r) die(r.error().message);
  }
  WorkerProcess w = start_worker(bin, dir, url, 8, true, prefetch);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  SubmitOptions small;
  small.session = "small";
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    auto sub = submit_run(c, flow, State{}, small);
    if (!sub) die(sub.error().message);
    auto out = wait_outcome(c, sub->reply_key, SteadyClock::now() + std::chrono::minutes(5), CancelToken());
    if (!out || !out->value("ok", false)) die("small run failed");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  w.stop();
  return {percentile(ms, 50), percentile(ms, 99)};
}

void fairness_scenario(Connection& c, const std::string& bin, const std::string& dir, const std::string& url,
                       const PlannedFlow& flow, long long backlog, const std::string& name, int prefetch = -1) {
  // 50 runs, one at a time: enough samples for a steady p50 (the 10 runs gave a p50 that
  // moved by 2x between runs on this machine)
  constexpr int kSmallRuns = 50;
  const auto alone = small_session_latency(c, bin, dir, url, flow, 0, kSmallRuns, prefetch);
  const auto behind = small_session_latency(c, bin, dir, url, flow, backlog, kSmallRuns, prefetch);
  Json line{{"scenario", name},
            {"system", "am2z"},
            {"backlog", backlog},
            {"small_runs", kSmallRuns},
            {"alone_p50_ms", round3(alone.first)},
            {"alone_p99_ms", round3(alone.second)},
            {"behind_backlog_p50_ms", round3(behind.first)},
            {"behind_backlog_p99_ms", round3(behind.second)},
            {"p50_ratio", round3(behind.first / std::max(alone.first, 0.001))}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) die("usage: bench_redis AM2Z_BIN FLOWS_DIR REDIS_URL N LAT_N");
  const std::string bin = argv[1], dir = argv[2], url = argv[3];
  const long long n = std::atoll(argv[4]), lat_n = std::atoll(argv[5]);
  auto endpoint = parse_url(url);
  if (!endpoint) die(endpoint.error().message);
  Connection c(*endpoint, ConnectOptions{});
  if (auto st = c.connect(); !st) die(st.error().message);
  auto noop = plan(dir + "/noop.yaml");
  auto chain5 = plan(dir + "/chain5.yaml");
  auto nap = plan(dir + "/nap2ms.yaml");
  // AM2Z_BENCH_ONLY=word: only the scenarios whose name contains it; =name: only that one (to
  // repeat a scenario while tuning)
  const char* only_env = std::getenv("AM2Z_BENCH_ONLY");
  const std::string only = only_env != nullptr ? only_env : "";
  const auto wanted = [&](const std::string& name) {
    if (only.starts_with("=")) return name == only.substr(1);
    return only.empty() || name.find(only) != std::string::npos;
  };
  std::vector<Drain> drains;
  for (int conc : {8, 64}) {
    drains.push_back({.conc = conc});
    // events on right after the same drain with events off: the machine drifts between scenarios
    // and the figure is their ratio
    if (conc == 64) drains.push_back({.conc = 64, .events = true});
    drains.push_back({.conc = conc, .remove_on_complete = true});
  }
  // -c 8 with --prefetch 0 (a worker holds no job beyond -c): calls of 4 jobs instead of 12, what
  // the default's prefetch buys
  drains.push_back({.conc = 8, .prefetch = 0});
  drains.push_back({.conc = 8, .remove_on_complete = true, .prefetch = 0});
  // four worker processes at -c 8, as BullMQ's multi-process phase (MULTI_PROCS=4, MULTI_CONC=8)
  drains.push_back({.conc = 8, .remove_on_complete = true, .workers = 4});
  for (const Drain& d : drains) {
    // right before process_c64 (the machine drifts between scenarios, and the figure is their
    // ratio): the Redis CPU per job of BullMQ's layout alone
    if (d.name() == "process_c64" && wanted("layout_floor_c64")) layout_floor_scenario(c, *noop, n);
    if (wanted(d.name())) process_scenario(c, bin, dir, url, *noop, n, d);
  }
  // exec steps of about 5 ms, the common real case (tests/bench/peer_exec.mjs: BullMQ's worker
  // doing the same); a tenth of N, as each job starts a program
  const Drain exec{.conc = 8, .remove_on_complete = true, .work = "exec5ms"};
  if (wanted(exec.name())) {
    const std::string exec_dir = dir + "/../exec_flows";
    process_scenario(c, bin, exec_dir, url, *plan(exec_dir + "/exec5ms.yaml"), std::max(100LL, n / 10), exec);
  }
  if (wanted("session_stop")) session_stop_scenario(c, *noop, std::max(1000LL, n / 2));
  // 100,000 queued steps at full size. No-op steps measure how much a loaded Redis slows each
  // script call as much as the queue order; 2 ms steps are work whose time is the step's.
  if (wanted("fairness")) fairness_scenario(c, bin, dir, url, *noop, n * 5, "fairness");
  if (wanted("fairness_2ms")) fairness_scenario(c, bin, dir, url, *nap, n * 5, "fairness_2ms");
  // --prefetch 0: what holding jobs beyond -c costs a newcomer (none held while fair jobs wait)
  if (wanted("fairness_prefetch0")) fairness_scenario(c, bin, dir, url, *noop, n * 5, "fairness_prefetch0", 0);
  if (wanted("latency")) latency_scenario(c, bin, dir, url, *noop, "latency", lat_n);
  if (wanted("chain5_latency")) latency_scenario(c, bin, dir, url, *chain5, "chain5_latency", lat_n);
  return 0;
}
