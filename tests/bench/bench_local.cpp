// Local engine overhead: runs one scenario per process so peak RSS belongs to that scenario.
// Usage: bench_local SCENARIO [ITERATIONS]; prints one JSON line.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/flow.hpp"
#include "core/runner.hpp"

using namespace am2z;

namespace {

/// Does nothing, so what is measured is the engine.
class NoopProcessor final : public Processor {
 public:
  Status process(State&, Context&) const override { return {}; }
};

/// The same, declared instant as the built-in state transforms (set, fail) are.
class InstantNoopProcessor final : public Processor {
 public:
  Status process(State&, Context&) const override { return {}; }
  bool instant() const override { return true; }
};

NodePtr noop_leaf(const std::string& name, bool instant = false) {
  auto inst = std::make_shared<ProcessorInstance>();
  inst->name = name;
  inst->type = "noop";
  if (instant) {
    inst->impl = std::make_unique<InstantNoopProcessor>();
  } else {
    inst->impl = std::make_unique<NoopProcessor>();
  }
  inst->init_limits();
  return std::make_shared<ProcessorNode>(inst);
}

std::vector<NodePtr> noop_leaves(int n, bool instant = false) {
  std::vector<NodePtr> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(noop_leaf("noop" + std::to_string(i), instant));
  return out;
}

struct Scenario {
  NodePtr root;
  Json input = Json::object();
  long steps_per_run = 0;
  long default_iterations = 0;
};

Scenario make(const std::string& name) {
  if (name == "chain_10") return {std::make_shared<ChainNode>("chain", noop_leaves(10)), Json::object(), 10, 2000};
  if (name == "chain_1000") return {std::make_shared<ChainNode>("chain", noop_leaves(1000)), Json::object(), 1000, 200};
  if (name == "parallel_8") {
    return {std::make_shared<ParallelNode>("parallel", noop_leaves(8), MergeStrategy::deep), Json::object(), 8, 1000};
  }
  if (name == "parallel_8_instant") {
    return {std::make_shared<ParallelNode>("parallel", noop_leaves(8, true), MergeStrategy::deep), Json::object(), 8,
            1000};
  }
  if (name == "batch_1000") {
    Json items = Json::array();
    for (int i = 0; i < 1000; ++i) items.push_back(Json{{"n", i}});
    BatchSpec spec;
    spec.items = std::move(items);
    spec.output = *JsonPath::parse(".batch");
    return {std::make_shared<BatchNode>("batch", noop_leaf("noop"), std::move(spec)), Json::object(), 1000, 20};
  }
  std::fprintf(stderr, "unknown scenario '%s' (chain_10, chain_1000, parallel_8, parallel_8_instant, batch_1000)\n",
               name.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_local SCENARIO [ITERATIONS]\n");
    return 2;
  }
  const std::string name = argv[1];
  Scenario sc = make(name);
  const long iterations = argc > 2 ? std::atol(argv[2]) : sc.default_iterations;
  auto flow = std::make_shared<Flow>();
  flow->name = name;
  flow->root = sc.root;
  RunOptions options;

  // Warm up the pool and caches, then time the runs themselves (input state creation included).
  for (int i = 0; i < 3; ++i) run_flow(flow, State::create("bench", sc.input), options);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    RunOutcome out = run_flow(flow, State::create("bench", sc.input), options);
    if (!out.ok()) {
      std::fprintf(stderr, "run failed: %s\n", out.error->message.c_str());
      return 1;
    }
  }
  const double wall_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double per_step = wall_us / static_cast<double>(iterations * sc.steps_per_run);
  std::printf(
      "{\"scenario\":\"%s\",\"iterations\":%ld,\"steps_per_run\":%ld,\"us_per_step\":%.4f,\"us_per_run\":%.3f,"
      "\"wall_ms\":%.3f,\"peak_rss_kb\":%ld}\n",
      name.c_str(), iterations, sc.steps_per_run, per_step, wall_us / static_cast<double>(iterations), wall_us / 1000.0,
      ru.ru_maxrss);
  return 0;
}
