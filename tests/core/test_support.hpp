#pragma once
// Builds flows in code for engine tests: processors from lambdas, instances, nodes, a flow.
#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/flow.hpp"
#include "core/runner.hpp"

namespace am2z::test {

using Fn = std::function<Status(State&, Context&)>;

/// A processor whose behaviour is a lambda.
class FnProcessor final : public Processor {
 public:
  explicit FnProcessor(Fn fn, bool instant = false) : fn_(std::move(fn)), instant_(instant) {}
  Status process(State& state, Context& ctx) const override { return fn_(state, ctx); }
  bool instant() const override { return instant_; }

 private:
  Fn fn_;
  bool instant_;
};

inline std::shared_ptr<ProcessorInstance> instance(const std::string& name, Fn fn, StepPolicy policy = {}) {
  auto inst = std::make_shared<ProcessorInstance>();
  inst->name = name;
  inst->type = "test";
  inst->impl = std::make_unique<FnProcessor>(std::move(fn));
  inst->policy = policy;
  inst->init_limits();
  return inst;
}

inline NodePtr leaf(std::shared_ptr<const ProcessorInstance> inst) {
  return std::make_shared<ProcessorNode>(std::move(inst));
}
inline NodePtr leaf(const std::string& name, Fn fn, StepPolicy policy = {}) {
  return leaf(instance(name, std::move(fn), policy));
}
/// A leaf whose processor declares itself instant (Processor::instant), as `set` does.
inline NodePtr instant_leaf(const std::string& name, Fn fn, StepPolicy policy = {}) {
  auto inst = instance(name, nullptr, policy);
  inst->impl = std::make_unique<FnProcessor>(std::move(fn), true);
  return leaf(std::move(inst));
}

/// Adds `delta` to .count.
inline Fn add(int delta) {
  return [delta](State& s, Context&) -> Status {
    s.data["count"] = s.data.value("count", 0) + delta;
    return {};
  };
}

/// Records every event it receives, for assertions on what a run published.
class CollectingSink final : public EventSink {
 public:
  void publish(const Json& payload) override {
    std::lock_guard lock(mutex_);
    events_.push_back(payload);
  }
  std::vector<Json> all() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : all()) out.push_back(e["event"].get<std::string>());
    return out;
  }
  std::vector<Json> named(std::string_view name) const {
    std::vector<Json> out;
    for (const auto& e : all()) {
      if (e["event"] == name) out.push_back(e);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Json> events_;
};

/// Whole milliseconds since `t0`, for generous timing bounds.
inline long long ms_since(SteadyClock::time_point t0) {
  return std::chrono::duration_cast<Millis>(SteadyClock::now() - t0).count();
}

inline std::shared_ptr<Flow> flow_of(NodePtr root, const std::string& name = "test-flow") {
  auto f = std::make_shared<Flow>();
  f->name = name;
  f->root = std::move(root);
  return f;
}

/// A silent logger of the tests' own, kept out of spdlog's registry. With the default logger, a
/// step abandoned after a timeout drops its reference on a pool thread and the registry (in the
/// uninstrumented libspdlog) deletes the logger at exit; TSan cannot see that reference count
/// and reports a false data race.
inline std::shared_ptr<spdlog::logger> quiet_logger() {
  static const auto logger = std::make_shared<spdlog::logger>("core-tests");
  return logger;
}

inline RunOutcome run(NodePtr root, Json data = Json::object(), RunOptions options = {}) {
  if (!options.logger) options.logger = quiet_logger();
  return run_flow(flow_of(std::move(root)), State::create("s1", std::move(data)), options);
}

}  // namespace am2z::test
