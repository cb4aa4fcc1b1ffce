#include "plugins/remote_processor.hpp"

#include "plugins/params.hpp"

namespace am2z {

namespace {

class RemoteProcessor final : public Processor {
 public:
  explicit RemoteProcessor(std::string queue) : queue_(std::move(queue)) {}

  Status process(State& /*state*/, Context& ctx) const override {
    Error e = errors::configuration(std::string(ctx.processor_name()), "a remote step runs on the workers of queue '" +
                                                                           queue_ + "'; run the flow with --redis");
    return fail(std::move(e));
  }
  std::optional<std::string> remote_queue() const override { return queue_; }

 private:
  std::string queue_;
};

Result<std::unique_ptr<Processor>> create_remote(const Json& with) {
  // The schema requires a non-empty string `queue`; only what it cannot say is left to judge.
  std::string queue = params::text(with, "queue");
  if (queue.find(':') != std::string::npos) {
    return fail(errors::validation("queue", queue, "must not contain ':' (BullMQ splits keys at ':')"));
  }
  return std::make_unique<RemoteProcessor>(std::move(queue));
}

}  // namespace

ProcessorType remote_processor_type() {
  ProcessorType type;
  type.name = "remote";
  type.description =
      "A step done by another worker (BullMQ Node Worker or any client) as a job on a queue; distributed runs only";
  type.params_schema = Json{
      {"type", "object"},
      {"properties", {{"queue", {{"type", "string"}, {"minLength", 1}, {"description", "queue the job is added to"}}}}},
      {"required", Json::array({"queue"})},
      {"additionalProperties", false}};
  type.create = create_remote;
  return type;
}

}  // namespace am2z
