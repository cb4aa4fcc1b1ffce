#include "plugins/sleep_processor.hpp"

#include <algorithm>

#include "plugins/budget.hpp"
#include "plugins/params.hpp"

namespace am2z {

namespace {

class SleepProcessor final : public Processor {
 public:
  explicit SleepProcessor(Millis duration) : duration_(duration) {}

  Status process(State& /*state*/, Context& ctx) const override {
    auto started = SteadyClock::now();
    auto end = started + duration_;
    // Wake at the deadline too: sleeping past it would only hold a thread for nothing.
    Deadline deadline = ctx.deadline();
    if (ctx.cancel_token().wait_until(std::min(end, deadline))) {
      return fail(errors::cancelled(ctx.cancel_token().reason()));
    }
    if (deadline < end) return fail(errors::timeout(std::string(ctx.processor_name()), budget_ms(deadline, started)));
    return {};
  }

 private:
  Millis duration_;
};

Result<std::unique_ptr<Processor>> create_sleep(const Json& with) {
  if (auto ok = params::check_keys(with, {"duration"}); !ok) return fail(ok.error());
  const Json* v = params::find(with, "duration");
  if (v == nullptr) return fail(params::missing("duration"));
  auto d = params::as_duration(*v, "duration");
  if (!d) return fail(d.error());
  return std::make_unique<SleepProcessor>(*d);
}

}  // namespace

ProcessorType sleep_processor_type() {
  ProcessorType type;
  type.name = "sleep";
  type.description = "Waits for a duration, leaving the state unchanged; stops early when cancelled";
  type.params_schema = Json{{"type", "object"},
                            {"properties", {{"duration", params::duration_schema("how long to wait")}}},
                            {"required", Json::array({"duration"})},
                            {"additionalProperties", false}};
  type.create = create_sleep;
  return type;
}

}  // namespace am2z
