#pragma once
// A worker's metrics for Prometheus (`am2z worker --metrics ADDR`): what the worker observer hears
// (steps started, completed, failed and retried per queue, step durations, the dispatcher's Redis
// round trips and reconnections), kept as counters and histograms and written in Prometheus's
// text exposition format (version 0.0.4). Also the worker's health for /healthz.
#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "core/redis/worker_observer.hpp"

namespace am2z::redis {

/// A cumulative histogram with fixed upper bounds (seconds), as Prometheus wants it.
template <std::size_t N>
struct Histogram {
  std::array<double, N> bounds{};
  std::array<long long, N> counts{};  ///< observations <= bounds[i] (each counted once, in its first bucket)
  long long count = 0;
  double sum = 0;

  void observe(double seconds) {
    for (std::size_t i = 0; i < N; ++i) {
      if (seconds <= bounds[i]) {
        ++counts[i];
        break;
      }
    }
    ++count;
    sum += seconds;
  }
};

/// Step durations: 1 ms to 5 minutes.
using StepHistogram = Histogram<16>;
/// Redis round trips: 100 µs to 1 s.
using RoundTripHistogram = Histogram<13>;

struct WorkerHealth {
  bool redis_ok = false;            ///< the last Redis call answered, and one did recently
  long long last_redis_ok_ms = 0;   ///< Unix ms of the last call that answered; 0: none yet
  std::string last_redis_error;     ///< which call failed last, if the last one failed
  long long active = 0;             ///< steps running now
};

class WorkerMetrics final : public WorkerObserver {
 public:
  /// `stale_after`: with no Redis call answered for this long the worker counts as unhealthy
  /// (an idle worker still writes its heartbeat every few seconds).
  WorkerMetrics(std::string worker_name, int concurrency, std::chrono::milliseconds stale_after);

  void step_started(const StepEvent& e) override;
  void step_finished(const StepEvent& e) override;
  void step_failed(const StepEvent& e) override;
  void step_retried(const StepEvent& e) override;
  void redis_call(std::string_view call, std::chrono::microseconds elapsed, bool ok) override;
  void redis_reconnected() override;

  /// Everything, in Prometheus's text format.
  std::string prometheus_text() const;
  WorkerHealth health() const;

 private:
  struct QueueMetrics {
    long long started = 0, completed = 0, failed = 0, retried = 0, interrupted = 0;
    long long active = 0;
    StepHistogram durations;
  };
  QueueMetrics& queue(std::string_view name);
  void ended(const StepEvent& e);

  const std::string name_;
  const int concurrency_;
  const std::chrono::milliseconds stale_after_;
  const long long started_ms_;
  mutable std::mutex mutex_;
  std::map<std::string, QueueMetrics, std::less<>> queues_;
  std::map<std::string, RoundTripHistogram, std::less<>> round_trips_;  ///< by call
  std::map<std::string, long long, std::less<>> redis_failures_;         ///< by call
  long long reconnects_ = 0;
  long long last_ok_ms_ = 0;
  std::string last_failed_call_;  ///< empty when the last call answered
};

/// `text` as a Prometheus label value: backslash, double quote and line feed escaped.
std::string prometheus_label(std::string_view text);

}  // namespace am2z::redis
