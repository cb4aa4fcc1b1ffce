#pragma once
// What a worker tells observers about the jobs it runs: metrics, statistics and event feeds plug
// in here instead of logging or counting inside the dispatch loop.
#include <chrono>
#include <string_view>

#include "core/error.hpp"

namespace am2z::redis {

/// One job of a worker's queues, at one moment of its life. The views point into the worker's
/// own job record and are valid only during the call: copy what you keep.
struct StepEvent {
  std::string_view queue;  ///< queue name (key prefix without "bull:" and ':')
  std::string_view job_id;
  std::string_view run_id;       ///< the am2z run; a foreign (BullMQ) job's own id
  std::string_view flow;         ///< flow name
  std::string_view instance;     ///< processor instance; empty for a flow's join job
  long long attempt = 1;         ///< the attempt that starts or just ended, from 1
  long long started_ms = 0;      ///< Unix ms when the attempt started
  long long finished_ms = 0;     ///< Unix ms when it ended; 0 in step_started
  long long duration_ms = 0;     ///< finished_ms - started_ms; 0 in step_started
  const Error* error = nullptr;  ///< why it failed, for step_failed and step_retried
  /// step_retried only: stopped by the worker's shutdown, back to its queue with this attempt
  /// not counted (not one of the job's retries; Worker::stats() leaves it out).
  bool interrupted = false;
};

/// Told of every job a worker takes: step_started once, then exactly one of the others. Called
/// from the thread that runs the job (step_started: a pool thread, or the dispatcher for instant
/// steps and joins) and from the dispatcher thread (the rest), never under the worker's locks;
/// implementations must be thread-safe and quick (they delay the dispatcher). What one throws
/// is logged and dropped.
struct WorkerObserver {
  virtual ~WorkerObserver();
  /// The job was taken and its attempt begins (it may still fail before its processor runs:
  /// a malformed or cancelled job).
  virtual void step_started(const StepEvent&) {}
  /// It completed; its result is being recorded.
  virtual void step_finished(const StepEvent&) {}
  /// It failed for good (no attempts left, or an error not worth retrying).
  virtual void step_failed(const StepEvent&) {}
  /// It failed and goes back to its queue for another attempt (or was interrupted by shutdown).
  virtual void step_retried(const StepEvent&) {}
  /// A call to Redis by the dispatcher ("step": a step-script call, from sending it to its reply;
  /// "heartbeat") answered (`ok`) or failed after `elapsed`. Called from the dispatcher thread.
  virtual void redis_call(std::string_view call, std::chrono::microseconds elapsed, bool ok) {
    (void)call, (void)elapsed, (void)ok;
  }
  /// The dispatcher's connection, lost to an I/O error, was made again.
  virtual void redis_reconnected() {}
};

}  // namespace am2z::redis
