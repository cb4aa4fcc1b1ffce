#include "tests/bench/bench_support.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/redis/sha256.hpp"
#include "core/redis/submitter.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"

namespace am2z::bench {

using namespace am2z::redis;
using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  // the benchmark's own name (bench_redis, bench_limits): glibc's, as g++ builds with _GNU_SOURCE
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::exit(1);
}

std::shared_ptr<const PlannedFlow> plan(const std::string& file) {
  ProcessorRegistry registry;
  register_builtins(registry);
  LoadResult loaded = load_flow_file(file, registry);
  if (!loaded.ok()) die("cannot load " + file);
  std::vector<std::string> files{file};
  files.insert(files.end(), loaded.flow->included.begin(), loaded.flow->included.end());
  return std::make_shared<const PlannedFlow>(loaded.flow, sha256_of_files(files), KeySpace{});
}

Reply must(Connection& c, const std::vector<std::string>& args) {
  auto r = c.command(args);
  if (!r || r->is_error()) die("redis " + args.front() + ": " + (r ? r->str : r.error().message));
  return *r;
}

void submit_numbered_runs(Connection& c, const redis::PlannedFlow& flow, long long n, const std::string& reply,
                          bool events) {
  redis::SubmitOptions opts;
  opts.reply_key = reply;
  opts.result_ttl = std::chrono::milliseconds(0);
  opts.events = events;
  for (long long i = 0; i < n; i += 1000) {
    std::vector<State> batch;
    for (long long j = i; j < std::min(n, i + 1000); ++j) {
      State s;
      s.data = Json{{"i", j}};
      batch.push_back(std::move(s));
    }
    if (auto r = submit_runs(c, flow, std::move(batch), opts); !r) die(r.error().message);
  }
}

long long server_commands(Connection& c) {
  const std::string info = must(c, {"INFO", "commandstats"}).str;
  long long total = 0;
  std::istringstream lines(info);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("cmdstat_")) continue;
    const std::string name = line.substr(8, line.find(':') - 8);
    if (name == "info" || name == "config|resetstat" || name == "flushall" || name == "ping" ||
        name.starts_with("client")) {
      continue;
    }
    const auto calls = line.find("calls=");
    total += std::atoll(line.c_str() + calls + 6);
  }
  return total;
}

double redis_cpu_us(Connection& c) {
  const std::string info = must(c, {"INFO", "cpu"}).str;
  double total = 0;
  std::istringstream lines(info);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("used_cpu_sys:") || line.starts_with("used_cpu_user:")) {
      total += std::atof(line.c_str() + line.find(':') + 1);
    }
  }
  return total * 1e6;
}

long long WorkerProcess::peak_rss_kb() const {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmHWM:")) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

void WorkerProcess::stop() {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  int st = 0;
  struct rusage usage {};
  wait4(pid, &st, 0, &usage);
  const auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
  cpu_us = us(usage.ru_utime) + us(usage.ru_stime);
  pid = -1;
}

WorkerProcess start_worker(const std::string& bin, const std::string& flows, const std::string& url, int conc,
                           bool remove_on_complete, int prefetch) {
  WorkerProcess w;
  w.pid = fork();
  if (w.pid == 0) {
    const std::string c = std::to_string(conc);
    std::vector<const char*> argv{bin.c_str(),   "worker", "--redis", url.c_str(), "--flows",
                                  flows.c_str(), "-c",     c.c_str(), "-q"};
    if (remove_on_complete) argv.push_back("--remove-on-complete");
    const std::string p = std::to_string(prefetch);
    if (prefetch >= 0) {
      argv.push_back("--prefetch");
      argv.push_back(p.c_str());
    }
    // AM2Z_BENCH_WORKER_ARGS: more worker flags, split at spaces (an A/B run of one option)
    std::vector<std::string> extra;
    if (const char* more = std::getenv("AM2Z_BENCH_WORKER_ARGS")) {
      std::istringstream words(more);
      for (std::string word; words >> word;) extra.push_back(word);
    }
    for (const auto& word : extra) argv.push_back(word.c_str());
    argv.push_back(nullptr);
    execv(bin.c_str(), const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  return w;
}

bool collect(Connection& c, const std::string& key, long long n) {
  long long got = 0;
  const auto until = Clock::now() + std::chrono::minutes(5);
  while (got < n && Clock::now() < until) {
    auto r = c.command({"BLMPOP", "1", "1", key, "LEFT", "COUNT", "1000"}, std::chrono::milliseconds(5000));
    if (!r || r->is_error()) die("BLMPOP: " + (r ? r->str : r.error().message));
    if (r->is_array() && r->elements.size() == 2) got += static_cast<long long>(r->elements[1].elements.size());
  }
  return got == n;
}

void wait_until_idle(Connection& c, int workers) {
  const auto until = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < until) {
    const std::string stats = must(c, {"INFO", "commandstats"}).str;
    const auto at = stats.find("cmdstat_fcall:calls=");
    const long long calls = at == std::string::npos ? 0 : std::atoll(stats.c_str() + at + 20);
    const std::string clients = must(c, {"CLIENT", "LIST"}).str;
    int blocked = 0;
    for (std::size_t from = 0; (from = clients.find("cmd=bzpopmin", from)) != std::string::npos; ++from) ++blocked;
    if (calls >= workers && blocked >= workers) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  die("the workers did not become idle within 30 s");
}

long long wait_for_length(Connection& c, const std::string& key, long long n) {
  const auto until = Clock::now() + std::chrono::minutes(5);
  for (long long polls = 1; Clock::now() < until; ++polls) {
    if (must(c, {"LLEN", key}).integer >= n) return polls;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return -1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(std::min<double>(
      static_cast<double>(v.size()) - 1, std::max(0.0, p / 100.0 * static_cast<double>(v.size()) - 1)));
  return v[idx];
}

double round3(double x) { return static_cast<double>(static_cast<long long>(x * 1000 + 0.5)) / 1000; }

}  // namespace am2z::bench
