// Limits across workers: four `am2z worker` processes (-c 8 each) on one Redis, measured from the
// jobs' own timestamps as Redis recorded them (processedOn at fetch, finishedOn at finish). One
// JSON line per scenario:
//   bench_limits AM2Z_BIN REDIS_URL N RATE_PERIOD
// limits_concurrency: N one-step runs of a 5 ms step with `concurrency: 4`: the most steps active
//   at once (must be 4) and the throughput against the limit's ideal (4 steps per 5 ms).
// limits_rate: 3 x 600 one-step runs of a no-op step with `rate: 600/RATE_PERIOD` (1min at full
//   size): the most starts in any window of the period (must be <= 600) and the sustained rate
//   (starts after the first 600 over the time from the first start to the last), as a ratio of
//   the limit.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/redis/submitter.hpp"
#include "core/units.hpp"
#include "tests/bench/bench_support.hpp"

using namespace am2z;
using namespace am2z::redis;
using namespace am2z::bench;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kWorkers = 4;
constexpr int kWorkerConcurrency = 8;

/// A directory holding one flow file, removed when done.
struct FlowDir {
  std::string path;
  std::string file;
  explicit FlowDir(const std::string& yaml) {
    char tmpl[] = "/tmp/am2z-bench-limits-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) die("mkdtemp failed");
    path = tmpl;
    file = path + "/flow.yaml";
    std::ofstream(file) << yaml;
  }
  ~FlowDir() { std::filesystem::remove_all(path); }
};

/// Runs `n` one-step runs of the flow in `dir` on four workers; the (processedOn, finishedOn)
/// of every job of `queue` and the seconds from the workers' start to the last outcome.
std::pair<std::vector<std::pair<long long, long long>>, double> drain(Connection& c, const std::string& bin,
                                                                      const std::string& url, const FlowDir& dir,
                                                                      const std::string& queue, long long n) {
  must(c, {"FLUSHALL"});
  auto flow = plan(dir.file);
  SubmitOptions opts;
  opts.reply_key = "am2z:bench:reply";
  opts.result_ttl = std::chrono::milliseconds(0);
  for (long long i = 0; i < n; i += 1000) {
    std::vector<State> batch(static_cast<std::size_t>(std::min(n - i, 1000LL)));
    if (auto r = submit_runs(c, *flow, std::move(batch), opts); !r) die(r.error().message);
  }
  const auto t0 = Clock::now();
  std::vector<WorkerProcess> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(start_worker(bin, dir.path, url, kWorkerConcurrency, false));
  const bool all = collect(c, opts.reply_key, n);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto& w : workers) w.stop();  // before a timeout's exit too: no worker outlives the benchmark
  if (!all) die("timed out waiting for outcomes");
  std::vector<std::pair<long long, long long>> spans;
  const Reply ids = must(c, {"ZRANGE", "bull:" + queue + ":completed", "0", "-1"});
  for (const Reply& id : ids.elements) {
    const Reply times = must(c, {"HMGET", "bull:" + queue + ":" + id.str, "processedOn", "finishedOn"});
    spans.emplace_back(std::atoll(times.elements[0].str.c_str()), std::atoll(times.elements[1].str.c_str()));
  }
  if (static_cast<long long>(spans.size()) != n) die("completed jobs: " + std::to_string(spans.size()));
  return {spans, seconds};
}

/// The most spans open at one instant (an end before a start at the same millisecond), each
/// counted from 1 ms after its start: processedOn and finishedOn are the worker's clock as it
/// built its call, not the moment Redis ran it, so a fetch built just before another worker's
/// finish can run just after it.
int most_at_once(const std::vector<std::pair<long long, long long>>& spans) {
  constexpr long long kClockSlackMs = 1;
  std::vector<std::pair<long long, int>> points;
  for (const auto& [s, e] : spans) {
    if (e <= s + kClockSlackMs) continue;
    points.emplace_back(s + kClockSlackMs, 1);
    points.emplace_back(e, -1);
  }
  std::sort(points.begin(), points.end());
  int open = 0, best = 0;
  for (const auto& [t, d] : points) best = std::max(best, open += d);
  return best;
}

void concurrency_scenario(Connection& c, const std::string& bin, const std::string& url, long long n) {
  constexpr int kLimit = 4;
  const FlowDir dir(
      "version: 1\nname: limits-cap\nprocessors:\n  nap: {use: sleep, with: {duration: 5ms}, concurrency: 4}\n"
      "flow: nap\n");
  const auto [spans, seconds] = drain(c, bin, url, dir, "limits-cap.nap", n);
  const double ideal = kLimit / 0.005;
  Json line{{"scenario", "limits_concurrency"},
            {"system", "am2z"},
            {"workers", kWorkers},
            {"jobs", n},
            {"limit", kLimit},
            {"max_active", most_at_once(spans)},
            {"seconds", round3(seconds)},
            {"jobs_per_s", static_cast<long long>(static_cast<double>(n) / seconds)},
            {"ideal_jobs_per_s", static_cast<long long>(ideal)},
            {"of_ideal", round3(static_cast<double>(n) / seconds / ideal)}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

void rate_scenario(Connection& c, const std::string& bin, const std::string& url, const std::string& period_text) {
  constexpr long long kLimit = 600;
  const auto period = parse_duration(period_text);
  if (!period) die("bad rate period " + period_text);
  const long long period_ms = period->count();
  const FlowDir dir(
      "version: 1\nname: limits-rate\nprocessors:\n  tick: {use: set, with: {values: {t: 1}}, rate: 600/" +
      period_text + "}\nflow: tick\n");
  const long long n = 3 * kLimit;
  const auto [spans, seconds] = drain(c, bin, url, dir, "limits-rate.tick", n);
  std::vector<long long> starts;
  for (const auto& [s, e] : spans) starts.push_back(s);
  std::sort(starts.begin(), starts.end());
  // processedOn is the fetching worker's clock as it built its call, the limit reads Redis's
  // clock as the call runs: a few ms apart, so windows are counted 50 ms short of the period.
  constexpr long long kClockSlackMs = 50;
  long long most = 0;
  for (std::size_t lo = 0, hi = 0; hi < starts.size(); ++hi) {
    while (starts[lo] <= starts[hi] - (period_ms - kClockSlackMs)) ++lo;
    most = std::max(most, static_cast<long long>(hi - lo + 1));
  }
  // The first window's 600 start at once, then 600 more each time the window has slid by a
  // period: over the whole run, starts after the first 600 per time from the first to the last.
  const double span_ms = static_cast<double>(std::max(1LL, starts.back() - starts.front()));
  const double sustained = static_cast<double>(n - kLimit) / span_ms * static_cast<double>(period_ms);
  Json line{{"scenario", "limits_rate"},
            {"system", "am2z"},
            {"workers", kWorkers},
            {"jobs", n},
            {"limit", "600/" + period_text},
            {"max_in_window", most},
            {"sustained_per_period", static_cast<long long>(sustained)},
            {"of_limit", round3(sustained / static_cast<double>(kLimit))},
            {"seconds", round3(seconds)}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) die("usage: bench_limits AM2Z_BIN REDIS_URL N RATE_PERIOD");
  const std::string bin = argv[1], url = argv[2], period = argv[4];
  const long long n = std::atoll(argv[3]);
  auto endpoint = parse_url(url);
  if (!endpoint) die(endpoint.error().message);
  Connection c(*endpoint, ConnectOptions{});
  if (auto st = c.connect(); !st) die(st.error().message);
  const char* only_env = std::getenv("AM2Z_BENCH_ONLY");
  const std::string only = only_env != nullptr ? only_env : "";
  if (only.empty() || std::string("limits_concurrency").find(only) != std::string::npos) {
    concurrency_scenario(c, bin, url, n);
  }
  if (only.empty() || std::string("limits_rate").find(only) != std::string::npos) rate_scenario(c, bin, url, period);
  return 0;
}
