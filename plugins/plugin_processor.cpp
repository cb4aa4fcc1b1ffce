#include "plugins/plugin_processor.hpp"

#include <string>
#include <utility>

#include "am2z/plugin_abi.h"
#include "core/json_limits.hpp"
#include "plugins/plugin_loader.hpp"
#include "plugins/typed_error.hpp"

namespace am2z {

namespace {

void append_to(void* data, const char* text, std::size_t size) { static_cast<std::string*>(data)->append(text, size); }

/// Parses text a plugin handed back; discarded when it is not JSON or past a limit.
Json parse_reply(const std::string& text) {
  auto j = parse_outside_json(text);
  return j ? std::move(*j) : Json(Json::value_t::discarded);
}

/// The host callbacks of one call, bound to its Context.
struct HostCall {
  Context& ctx;
  std::string execution_id;

  static void log(void* data, int level, const char* message, std::size_t size) {
    auto& self = *static_cast<HostCall*>(data);
    const auto lvl =
        level < 0 || level > AM2Z_LOG_ERROR ? spdlog::level::info : static_cast<spdlog::level::level_enum>(level);
    self.ctx.log().log(lvl, "{}: {}", self.ctx.processor_name(), std::string_view(message, size));
  }
  static void emit(void* data, const char* event, std::size_t event_size, const char* json, std::size_t json_size) {
    auto& self = *static_cast<HostCall*>(data);
    Json payload = json_size == 0 ? Json() : parse_reply(std::string(json, json_size));
    if (payload.is_discarded()) payload = std::string(json, json_size);
    self.ctx.emit(std::string_view(event, event_size), std::move(payload));
  }
  static int is_cancelled(void* data) { return static_cast<HostCall*>(data)->ctx.cancelled() ? 1 : 0; }
  static std::int64_t remaining_ms(void* data) {
    const Deadline deadline = static_cast<HostCall*>(data)->ctx.deadline();
    if (deadline == kNoDeadline) return -1;
    const auto now = SteadyClock::now();
    return deadline <= now ? 0 : std::chrono::ceil<Millis>(deadline - now).count();
  }
};

class PluginProcessor final : public Processor {
 public:
  PluginProcessor(std::shared_ptr<PluginLibrary> library, const am2z_processor_type_v1& type, void* instance)
      : library_(std::move(library)), type_(type), instance_(instance) {}
  ~PluginProcessor() override { type_.destroy(instance_); }
  PluginProcessor(const PluginProcessor&) = delete;
  PluginProcessor& operator=(const PluginProcessor&) = delete;

  Status process(State& state, Context& ctx) const override {
    const std::string input = state.data.dump(-1, ' ', false, Json::error_handler_t::replace);
    HostCall call{ctx, ctx.execution_id()};
    const std::string_view name = ctx.processor_name();
    const am2z_host host{&call,
                         &HostCall::log,
                         &HostCall::emit,
                         &HostCall::is_cancelled,
                         &HostCall::remaining_ms,
                         ctx.session_id().data(),
                         ctx.session_id().size(),
                         call.execution_id.data(),
                         call.execution_id.size(),
                         name.data(),
                         name.size(),
                         ctx.attempt()};
    std::string reply;
    const am2z_sink output{&reply, &append_to};
    const int rc = type_.process(instance_, input.data(), input.size(), &host, &output);
    const std::string origin = "plugin:" + library_->path();
    if (rc != AM2Z_OK) {
      Json reported = parse_reply(reply);
      if (reported.is_discarded()) {
        return fail(errors::execution(
            std::string(name), "plugin type '" + std::string(type_.name) + "' failed without a readable error report"));
      }
      return fail(typed_error(reported, name, origin));
    }
    if (reply.empty()) return {};
    auto data = parse_outside_json(reply);
    if (!data) {
      return fail(errors::execution(std::string(name), "plugin type '" + std::string(type_.name) +
                                                           "' returned a state that is not valid JSON: " +
                                                           data.error().reason));
    }
    if (!data->is_object()) {
      return fail(errors::execution(std::string(name), "plugin type '" + std::string(type_.name) +
                                                           "' returned a state that is not a JSON object"));
    }
    data->erase("metadata");  // the engine owns metadata
    state.data = std::move(*data);
    return {};
  }

 private:
  std::shared_ptr<PluginLibrary> library_;
  const am2z_processor_type_v1& type_;
  void* instance_;
};

Error parameter_error(const std::string& reply, const Json& with) {
  Json reported = parse_reply(reply);
  std::string field = "with";
  std::string message = "rejected its parameters";
  if (reported.is_object()) {
    if (auto f = reported.find("field"); f != reported.end() && f->is_string() && !f->get<std::string>().empty())
      field = f->get<std::string>();
    if (auto m = reported.find("message"); m != reported.end() && m->is_string()) message = m->get<std::string>();
  }
  return errors::validation(field, with, message);
}

}  // namespace

ProcessorType plugin_processor_type(std::shared_ptr<PluginLibrary> library, const am2z_processor_type_v1& type,
                                    Json params_schema) {
  ProcessorType out;
  out.name = type.name;
  out.description = type.description != nullptr ? type.description : "";
  out.params_schema = std::move(params_schema);
  out.origin = "plugin:" + library->path();
  out.create = [library, &type](const Json& with) -> Result<std::unique_ptr<Processor>> {
    const std::string params = with.dump(-1, ' ', false, Json::error_handler_t::replace);
    void* instance = nullptr;
    std::string reply;
    const am2z_sink error{&reply, &append_to};
    if (type.create(type.type_data, params.data(), params.size(), &instance, &error) != AM2Z_OK) {
      return fail(parameter_error(reply, with));
    }
    return std::make_unique<PluginProcessor>(library, type, instance);
  };
  return out;
}

}  // namespace am2z
