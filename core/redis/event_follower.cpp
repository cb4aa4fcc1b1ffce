#include "core/redis/event_follower.hpp"

#include <spdlog/spdlog.h>

#include "core/redis/event_stream.hpp"
#include "core/state.hpp"

namespace am2z::redis {

namespace {

constexpr Millis kPoll{200};             // a blocking read's wait: how soon stop_ is seen
constexpr Millis kFinalGrace{2000};      // how long finish() waits for the last event

}  // namespace

RunEventFollower::RunEventFollower(Endpoint endpoint, KeySpace keys, std::string run_id, std::string after_id,
                                   std::shared_ptr<EventSink> sink)
    : endpoint_(std::move(endpoint)),
      keys_(std::move(keys)),
      run_id_(std::move(run_id)),
      after_id_(std::move(after_id)),
      sink_(std::move(sink)),
      thread_([this] { follow(); }) {}

RunEventFollower::~RunEventFollower() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void RunEventFollower::follow() {
  Connection c(endpoint_, ConnectOptions{});
  const EventFilter filter{.session = "", .run = run_id_};
  while (!stop_.load() && !saw_final_.load()) {
    auto batch = read_events(c, keys_, after_id_, filter, kPoll);
    if (!batch) {  // Redis away: the run's own wait says so; try again shortly
      spdlog::debug("events of run {}: {}", run_id_, batch.error().message);
      std::this_thread::sleep_for(kPoll);
      continue;
    }
    after_id_ = batch->last_id;
    for (const Json& e : batch->events) {
      sink_->publish(e);
      if (is_final_event(e)) saw_final_.store(true);
    }
  }
}

void RunEventFollower::finish(const std::optional<Error>& error, const std::string& flow, const std::string& session) {
  const Deadline until = SteadyClock::now() + kFinalGrace;
  while (!saw_final_.load() && SteadyClock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (saw_final_.load() || !error) return;
  sink_->publish(Json{{"event", event::kFlowFailed},
                      {"ts", format_timestamp(SystemClock::now())},
                      {"runId", run_id_},
                      {"sessionId", session},
                      {"flow", flow},
                      {"error", error->to_json()}});
}

}  // namespace am2z::redis
