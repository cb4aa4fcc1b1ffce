// Jobs added by BullMQ clients rather than by am2z (no opts.am2z envelope): each runs as one
// step of the queue's processor under BullMQ's own rules, so a Node producer, a FlowProducer
// tree or Bull Board sees what a BullMQ worker would have done: the job's attempts and backoff
// (fixed or exponential), and its parent told of its end (failParentOnFailure,
// continueParentOnFailure, ignore- and removeDependencyOnFailure). Retention (removeOnComplete /
// removeOnFail) is read by the shared path, as am2z jobs may carry it too. A job of a BullMQ job
// scheduler (Queue.upsertJobScheduler) has the scheduler's next job added as it ends.
#include <algorithm>

#include "core/cron.hpp"
#include "core/redis/worker_impl.hpp"

namespace am2z::redis {

using detail::now_ms;

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

void Worker::Impl::next_scheduled(const Finished& f, OpList& ops) const {
  const std::string scheduler = f.job.field("rjk");
  if (scheduler.empty()) return;
  // As BullMQ's JobScheduler.upsertJobScheduler, with the options the job carries: its limit of
  // iterations and end date stop the scheduler; a cron pattern's next time is computed here.
  Json opts = f.opts.is_object() ? f.opts : Json::object();
  Json repeat = opts.value("repeat", Json::object());
  if (!repeat.is_object()) return;
  const long long iteration = int_option(repeat, "count", 0) + 1;
  if (repeat.contains("limit") && iteration > int_option(repeat, "limit", 0)) return;
  long long now = now_ms();
  if (const long long end = int_option(repeat, "endDate", 0); end > 0 && now > end) return;
  now = std::max(now, int_option(opts, "prevMillis", 0));
  std::string next;
  const auto pattern = repeat.find("pattern");
  if (pattern != repeat.end() && pattern->is_string()) {
    const std::string tz = repeat.value("tz", Json("")).is_string() ? repeat.value("tz", "") : "";
    if (!tz.empty() && tz != "UTC" && tz != "Etc/UTC") {
      log->warn("job scheduler '{}' of {} asks for time zone {}: am2z computes its times in UTC", scheduler,
                f.job.queue, tz);
    }
    auto cron = CronSchedule::parse(pattern->get<std::string>());
    if (!cron) {
      log->error("job scheduler '{}' of {}: its pattern cannot be read ({}); no next job", scheduler, f.job.queue,
                 cron.error().message);
      return;
    }
    const long long start = std::max(now, int_option(repeat, "startDate", 0));
    const long long at = cron->next_after(start);
    if (at < 0) return;
    next = std::to_string(std::max(at, now));
  }
  repeat["count"] = iteration;
  opts["repeat"] = std::move(repeat);
  opts["timestamp"] = now_ms();
  opts["repeatJobKey"] = scheduler;
  ops.next_from_scheduler(f.job.queue, scheduler, f.job.id, next, dump_text(opts));
}

void Worker::Impl::foreign_completed(const Finished& f, const std::string& value, OpList& ops) const {
  next_scheduled(f, ops);
  // A child of a BullMQ flow: its parent learns the result, as BullMQ's own workers do it.
  if (auto parent = foreign_parent(f.job, limits())) {
    ops.deliver(parent->queue, parent->id, f.job.key(), value, OpList::ChildEnd::completed);
  }
}

void Worker::Impl::foreign_failed(const Finished& f, const Error& e, OpList& ops) const {
  next_scheduled(f, ops);
  // BullMQ's default keeps the parent waiting; its options fail, or free, the parent instead.
  if (auto parent = foreign_parent(f.job, limits()); parent && !parent->wait_on_failure) {
    ops.deliver(parent->queue, parent->id, f.job.key(), e.message, parent->on_failure);
  }
}

}  // namespace am2z::redis
