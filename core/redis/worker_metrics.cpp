#include "core/redis/worker_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/redis/submitter.hpp"


namespace am2z::redis {

namespace {

constexpr std::array<double, 16> kStepBounds{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                              1,     2.5,   5,    10,    30,   60,  120, 300};
constexpr std::array<double, 13> kRoundTripBounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                   0.025,  0.05,    0.1,    0.25,  0.5,    1};

/// A bound as Prometheus writes `le`: the shortest text that reads back as the same number.
std::string le_text(double bound) { return fmt::format("{}", bound); }

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <std::size_t N>
void histogram(std::string& out, std::string_view name, std::string_view labels, const Histogram<N>& h) {
  long long cumulative = 0;
  for (std::size_t i = 0; i < N; ++i) {
    cumulative += h.counts[i];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, le_text(h.bounds[i]),
                   cumulative);
  }
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, h.count);
  fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n", name, labels, h.sum);
  fmt::format_to(std::back_inserter(out), "{}_count{{{}}} {}\n", name, labels, h.count);
}

}  // namespace

std::string prometheus_label(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

WorkerMetrics::WorkerMetrics(std::string worker_name, int concurrency, std::chrono::milliseconds stale_after)
    : name_(std::move(worker_name)), concurrency_(concurrency), stale_after_(stale_after), started_ms_(unix_ms()) {}

WorkerMetrics::QueueMetrics& WorkerMetrics::queue(std::string_view name) {
  auto it = queues_.find(name);
  if (it == queues_.end()) {
    it = queues_.emplace(std::string(name), QueueMetrics{}).first;
    it->second.durations.bounds = kStepBounds;
  }
  return it->second;
}

void WorkerMetrics::step_started(const StepEvent& e) {
  std::lock_guard lock(mutex_);
  QueueMetrics& q = queue(e.queue);
  ++q.started;
  ++q.active;
}

void WorkerMetrics::ended(const StepEvent& e) {
  QueueMetrics& q = queue(e.queue);
  q.active = std::max(0LL, q.active - 1);
  q.durations.observe(static_cast<double>(e.duration_ms) / 1000.0);
}

void WorkerMetrics::step_finished(const StepEvent& e) {
  std::lock_guard lock(mutex_);
  ended(e);
  ++queue(e.queue).completed;
}

void WorkerMetrics::step_failed(const StepEvent& e) {
  std::lock_guard lock(mutex_);
  ended(e);
  ++queue(e.queue).failed;
}

void WorkerMetrics::step_retried(const StepEvent& e) {
  std::lock_guard lock(mutex_);
  ended(e);
  QueueMetrics& q = queue(e.queue);
  ++(e.interrupted ? q.interrupted : q.retried);
}

void WorkerMetrics::redis_call(std::string_view call, std::chrono::microseconds elapsed, bool ok) {
  std::lock_guard lock(mutex_);
  if (!ok) {
    ++redis_failures_[std::string(call)];
    last_failed_call_ = call;
    return;
  }
  auto it = round_trips_.find(call);
  if (it == round_trips_.end()) {
    it = round_trips_.emplace(std::string(call), RoundTripHistogram{}).first;
    it->second.bounds = kRoundTripBounds;
  }
  it->second.observe(static_cast<double>(elapsed.count()) / 1e6);
  last_ok_ms_ = unix_ms();
  last_failed_call_.clear();
}

void WorkerMetrics::redis_reconnected() {
  std::lock_guard lock(mutex_);
  ++reconnects_;
}

WorkerHealth WorkerMetrics::health() const {
  std::lock_guard lock(mutex_);
  WorkerHealth h;
  h.last_redis_ok_ms = last_ok_ms_;
  h.redis_ok = last_ok_ms_ != 0 && last_failed_call_.empty() && unix_ms() - last_ok_ms_ <= stale_after_.count();
  h.last_redis_error = last_failed_call_;
  for (const auto& [name, q] : queues_) h.active += q.active;
  return h;
}

std::string WorkerMetrics::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto each_queue = [&](std::string_view metric, std::string_view type, std::string_view help, auto value) {
    header(out, metric, type, help);
    for (const auto& [name, q] : queues_) {
      fmt::format_to(std::back_inserter(out), "{}{{queue=\"{}\"}} {}\n", metric, prometheus_label(name), value(q));
    }
  };
  header(out, "am2z_worker_info", "gauge", "The worker: its name and am2z's version (always 1).");
  fmt::format_to(std::back_inserter(out), "am2z_worker_info{{name=\"{}\",version=\"{}\"}} 1\n",
                 prometheus_label(name_), prometheus_label(AM2Z_VERSION));
  header(out, "am2z_worker_start_time_seconds", "gauge", "When the worker started, Unix seconds.");
  fmt::format_to(std::back_inserter(out), "am2z_worker_start_time_seconds {}\n",
                 static_cast<double>(started_ms_) / 1000.0);
  header(out, "am2z_worker_concurrency", "gauge", "Steps the worker runs at once at most (-c).");
  fmt::format_to(std::back_inserter(out), "am2z_worker_concurrency {}\n", concurrency_);
  each_queue("am2z_steps_started_total", "counter", "Step attempts started.",
             [](const QueueMetrics& q) { return q.started; });
  each_queue("am2z_steps_completed_total", "counter", "Steps completed.",
             [](const QueueMetrics& q) { return q.completed; });
  each_queue("am2z_steps_failed_total", "counter", "Steps failed for good (no attempt left, or not retryable).",
             [](const QueueMetrics& q) { return q.failed; });
  each_queue("am2z_steps_retried_total", "counter", "Step attempts failed and queued again for another attempt.",
             [](const QueueMetrics& q) { return q.retried; });
  each_queue("am2z_steps_interrupted_total", "counter",
             "Step attempts stopped by the worker's shutdown and given back to their queue (not counted as tries).",
             [](const QueueMetrics& q) { return q.interrupted; });
  each_queue("am2z_steps_active", "gauge", "Steps running now.", [](const QueueMetrics& q) { return q.active; });
  header(out, "am2z_step_duration_seconds", "histogram", "How long step attempts ran, whatever their outcome.");
  for (const auto& [name, q] : queues_) {
    histogram(out, "am2z_step_duration_seconds", "queue=\"" + prometheus_label(name) + "\"", q.durations);
  }
  header(out, "am2z_redis_round_trip_seconds", "histogram",
         "The worker's calls to Redis, from sending to the reply: call=step (one step-script call finishes, "
         "schedules and fetches jobs) or heartbeat.");
  for (const auto& [call, h] : round_trips_) {
    histogram(out, "am2z_redis_round_trip_seconds", "call=\"" + prometheus_label(call) + "\"", h);
  }
  header(out, "am2z_redis_failures_total", "counter", "Calls to Redis that failed (connection lost, timeout).");
  for (const auto& [call, n] : redis_failures_) {
    fmt::format_to(std::back_inserter(out), "am2z_redis_failures_total{{call=\"{}\"}} {}\n", prometheus_label(call),
                   n);
  }
  header(out, "am2z_redis_reconnects_total", "counter", "Times the worker's connection to Redis was made again.");
  fmt::format_to(std::back_inserter(out), "am2z_redis_reconnects_total {}\n", reconnects_);
  return out;
}

}  // namespace am2z::redis
