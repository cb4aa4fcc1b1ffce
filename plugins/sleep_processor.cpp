#include "plugins/sleep_processor.hpp"

#include "plugins/params.hpp"

namespace am2z {

namespace {

class SleepProcessor final : public Processor {
 public:
  explicit SleepProcessor(Millis duration) : duration_(duration) {}

  Status process(State& /*state*/, Context& ctx) const override {
    // Only the token: whoever set a deadline fires it when the deadline passes, and reports the
    // timeout under the right name.
    if (ctx.cancel_token().wait_for(duration_)) return fail(errors::cancelled(ctx.cancel_token().reason()));
    return {};
  }

 private:
  Millis duration_;
};

Result<std::unique_ptr<Processor>> create_sleep(const Json& with) {
  // The schema requires `duration`; only its text is left to judge.
  const Json* v = params::find(with, "duration");
  auto d = params::as_duration(v != nullptr ? *v : Json(), "duration");
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
