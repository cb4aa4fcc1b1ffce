#pragma once
// What the distributed benchmarks share: a Redis connection that dies on error, worker
// processes started and stopped with their CPU and memory read, outcomes collected.
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/redis/connection.hpp"
#include "core/redis/planner.hpp"

namespace am2z::bench {

[[noreturn]] void die(const std::string& what);
/// The flow in `file`, planned as a worker plans it (hash of the file and its includes).
std::shared_ptr<const redis::PlannedFlow> plan(const std::string& file);
/// The reply to `args`; dies on a connection error or an error reply.
redis::Reply must(redis::Connection& c, const std::vector<std::string>& args);
/// Submits `n` one-step runs of `flow` with inputs {"i": 0..n-1}, in calls of 1000, their
/// outcomes going to the shared reply list `reply`, which never expires (result_ttl 0).
void submit_numbered_runs(redis::Connection& c, const redis::PlannedFlow& flow, long long n, const std::string& reply,
                          bool events);
/// Sum of calls in INFO commandstats, without the benchmark's own bookkeeping commands.
long long server_commands(redis::Connection& c);
/// CPU time the Redis server has used (user + system), in µs: its single core is the ceiling.
double redis_cpu_us(redis::Connection& c);

/// An `am2z worker` process.
struct WorkerProcess {
  pid_t pid = -1;
  double cpu_us = 0;  ///< CPU time the worker used (user + system), known once stopped
  long long peak_rss_kb() const;
  void stop();
};

/// `am2z worker --flows flows -c conc -q` on `url`, with `--prefetch` when not -1 (the default).
WorkerProcess start_worker(const std::string& bin, const std::string& flows, const std::string& url, int conc,
                           bool remove_on_complete, int prefetch = -1);
/// Collects `n` outcomes from a shared reply list; false on timeout.
bool collect(redis::Connection& c, const std::string& key, long long n);
/// Waits (30 s at most) until `workers` am2z workers are idle, ready for work: each has made
/// its first step call (FCALLs counted since the last CONFIG RESETSTAT) and its marker waker is
/// blocked in BZPOPMIN.
void wait_until_idle(redis::Connection& c, int workers);
/// Polls LLEN of `key` every millisecond until it holds `n` elements (5 minutes at most): the
/// commands it sent (to leave out of the system's count), or -1 when it timed out. Unlike
/// collect, it costs the Redis under test nothing per outcome.
long long wait_for_length(redis::Connection& c, const std::string& key, long long n);
double percentile(std::vector<double> v, double p);
double round3(double x);

}  // namespace am2z::bench
