// Jobs added by BullMQ clients rather than by am2z (no opts.am2z envelope): each runs as one
// step of the queue's processor under BullMQ's own rules, so a Node producer, a FlowProducer
// tree or Bull Board sees what a BullMQ worker would have done: the job's attempts and backoff
// (fixed or exponential), and its parent told of its end (failParentOnFailure,
// continueParentOnFailure, ignore- and removeDependencyOnFailure). Retention (removeOnComplete /
// removeOnFail) is read by the shared path, as am2z jobs may carry it too.
#include <algorithm>

#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

void Worker::Impl::foreign_options(Finished& f) const {
  f.policy = nullptr;
  f.max_attempts = static_cast<int>(std::clamp<long long>(int_option(f.opts, "attempts", 1), 1, 1'000'000));
  f.backoff = f.opts.value("backoff", Json());
}

long long Worker::Impl::foreign_backoff_ms(const Finished& f) const {
  // BullMQ's forms: a number (fixed delay) or {type: fixed|exponential, delay}.
  if (f.backoff.is_number()) return f.backoff.get<long long>();
  if (!f.backoff.is_object()) return 0;
  const long long base = std::max(0LL, int_option(f.backoff, "delay", 0));
  const auto type = f.backoff.find("type");
  const bool exponential = type != f.backoff.end() && type->is_string() && *type == "exponential";
  return exponential ? base << std::min<long long>(f.attempt - 1, 30) : base;
}

void Worker::Impl::foreign_completed(const Finished& f, const std::string& value, OpList& ops) const {
  // A child of a BullMQ flow: its parent learns the result, as BullMQ's own workers do it.
  if (auto parent = foreign_parent(f.job, limits())) {
    ops.deliver(parent->queue, parent->id, f.job.key(), value, OpList::ChildEnd::completed);
  }
}

void Worker::Impl::foreign_failed(const Finished& f, const Error& e, OpList& ops) const {
  // BullMQ's default keeps the parent waiting; its options fail, or free, the parent instead.
  if (auto parent = foreign_parent(f.job, limits()); parent && !parent->wait_on_failure) {
    ops.deliver(parent->queue, parent->id, f.job.key(), e.message, parent->on_failure);
  }
}

}  // namespace am2z::redis
