#pragma once
// The C++ side of the am2z plugin SDK (header-only, C++17). A plugin registers processor types:
//
//   #include <am2z/sdk.hpp>
//   namespace sdk = am2z::sdk;
//   AM2Z_PLUGIN("greeter",
//     sdk::processor("greet", "Adds a greeting", R"({"type":"object"})",
//       [](nlohmann::json& state, sdk::Context& ctx) -> sdk::Status {
//         state["greeting"] = "hello " + state.value("name", "world");
//         ctx.info("greeted");
//         return sdk::ok();
//       }))
//
// A processor is a function (state, ctx), a function (state, ctx, params), or a class built
// from its params with a `Status process(nlohmann::json&, Context&) const` member
// (sdk::processor_class<T>(...)). Exceptions never leave the plugin: a thrown exception fails
// the step with code PLUGIN_EXCEPTION; one thrown while building an instance is a parameter error.
#include <am2z/plugin_abi.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace am2z::sdk {

/// A failure the host maps onto its error taxonomy: category "business" becomes a BusinessError
/// with this code, "network" a NetworkError, and so on. `retryable` lets the flow's retry apply.
struct Error {
  std::string code;
  std::string message;
  bool retryable = false;
  std::string category =
      "business";  ///< validation, execution, timeout, resource, network, configuration, auth, business
  nlohmann::json details = nullptr;  ///< extra context, shown in the error's context.details
};

/// The outcome of one attempt: ok, or an Error.
class Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit so `return Error{...}` works
  bool is_ok() const { return !error_.has_value(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

inline Status ok() { return {}; }

/// Thrown by a factory for a bad parameter; `field` is the path inside `with` ("limit", "items[2]").
struct ParamError : std::runtime_error {
  ParamError(std::string field_path, const std::string& message)
      : std::runtime_error(message), field(std::move(field_path)) {}
  std::string field;
};

/// The host's services for one attempt of one step.
class Context {
 public:
  explicit Context(const am2z_host& host) : host_(host) {}

  void log(int level, const std::string& message) const {
    host_.log(host_.data, level, message.data(), message.size());
  }
  void debug(const std::string& message) const { log(AM2Z_LOG_DEBUG, message); }
  void info(const std::string& message) const { log(AM2Z_LOG_INFO, message); }
  void warn(const std::string& message) const { log(AM2Z_LOG_WARN, message); }
  void error(const std::string& message) const { log(AM2Z_LOG_ERROR, message); }
  /// Publishes a custom event {event, processor, executionId, data}.
  void emit(const std::string& event, const nlohmann::json& data = nullptr) const {
    std::string text = data.is_null() ? std::string() : data.dump();
    host_.emit(host_.data, event.data(), event.size(), text.data(), text.size());
  }
  /// True once the step was cancelled (timeout, Ctrl-C, a failed sibling): return early.
  bool cancelled() const { return host_.is_cancelled(host_.data) != 0; }
  /// Milliseconds before the step's deadline, or nullopt when it has none.
  std::optional<std::int64_t> remaining_ms() const {
    std::int64_t ms = host_.remaining_ms(host_.data);
    return ms < 0 ? std::nullopt : std::optional<std::int64_t>(ms);
  }
  std::string session_id() const { return {host_.session_id, host_.session_id_size}; }
  std::string execution_id() const { return {host_.execution_id, host_.execution_id_size}; }
  std::string processor_name() const { return {host_.processor_name, host_.processor_name_size}; }
  int attempt() const { return host_.attempt; }

 private:
  const am2z_host& host_;
};

/// A configured processor instance; process may run concurrently, so keep it const-safe.
class Processor {
 public:
  virtual ~Processor() = default;
  virtual Status process(nlohmann::json& state, Context& ctx) const = 0;
};

/// One processor type: its name, description, parameter schema (JSON text) and factory.
struct ProcessorSpec {
  std::string name;
  std::string description;
  std::string params_schema;
  std::function<std::unique_ptr<Processor>(const nlohmann::json& params)> factory;
};

namespace detail {

template <typename F>
class FunctionProcessor final : public Processor {
 public:
  FunctionProcessor(F fn, nlohmann::json params) : fn_(std::move(fn)), params_(std::move(params)) {}
  Status process(nlohmann::json& state, Context& ctx) const override {
    if constexpr (std::is_invocable_v<const F&, nlohmann::json&, Context&, const nlohmann::json&>) {
      return fn_(state, ctx, params_);
    } else {
      return fn_(state, ctx);
    }
  }

 private:
  F fn_;
  nlohmann::json params_;
};

inline void write(const am2z_sink* sink, const std::string& text) { sink->write(sink->data, text.data(), text.size()); }

inline std::string error_json(const Error& e) {
  return nlohmann::json{{"code", e.code},
                        {"message", e.message},
                        {"retryable", e.retryable},
                        {"category", e.category},
                        {"details", e.details}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline int create(void* type_data, const char* params, std::size_t size, void** instance, const am2z_sink* error) {
  const auto* spec = static_cast<const ProcessorSpec*>(type_data);
  std::string field;
  std::string message;
  try {
    nlohmann::json parsed = nlohmann::json::parse(params, params + size);
    if (parsed.is_null()) parsed = nlohmann::json::object();  // no `with:` reads as no parameters
    *instance = spec->factory(parsed).release();
    return AM2Z_OK;
  } catch (const ParamError& e) {
    field = e.field;
    message = e.what();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown exception while reading the parameters";
  }
  try {
    write(error, nlohmann::json{{"field", field}, {"message", message}}.dump(-1, ' ', false,
                                                                             nlohmann::json::error_handler_t::replace));
  } catch (...) {
  }
  return AM2Z_FAILED;
}

inline int process(void* instance, const char* state, std::size_t size, const am2z_host* host,
                   const am2z_sink* output) {
  try {
    nlohmann::json data = nlohmann::json::parse(state, state + size);
    Context ctx(*host);
    Status status = static_cast<const Processor*>(instance)->process(data, ctx);
    if (!status.is_ok()) {
      write(output, error_json(status.error()));
      return AM2Z_FAILED;
    }
    write(output, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return AM2Z_OK;
  } catch (const std::exception& e) {
    write(output, error_json(Error{"PLUGIN_EXCEPTION", e.what(), false, "execution", nullptr}));
  } catch (...) {
    write(output, error_json(Error{"PLUGIN_EXCEPTION", "unknown exception", false, "execution", nullptr}));
  }
  return AM2Z_FAILED;
}

inline void destroy(void* instance) { delete static_cast<Processor*>(instance); }

/// Owns the specs and the C descriptor that points into them.
class Plugin {
 public:
  Plugin(const char* name, std::vector<ProcessorSpec> specs) : name_(name), specs_(std::move(specs)) {
    for (auto& spec : specs_) {
      types_.push_back(am2z_processor_type_v1{spec.name.c_str(), spec.description.c_str(), spec.params_schema.c_str(),
                                              &spec, &detail::create, &detail::process, &detail::destroy});
    }
    descriptor_ =
        am2z_plugin_v1{AM2Z_PLUGIN_ABI_VERSION, AM2Z_SDK_VERSION, name_.c_str(), types_.size(), types_.data()};
  }
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
  const am2z_plugin_v1* descriptor() const { return &descriptor_; }

 private:
  std::string name_;
  std::vector<ProcessorSpec> specs_;
  std::vector<am2z_processor_type_v1> types_;
  am2z_plugin_v1 descriptor_{};
};

}  // namespace detail

/// A processor type from a function (state, ctx) or (state, ctx, params).
template <typename F>
ProcessorSpec processor(std::string name, std::string description, std::string params_schema, F fn) {
  return ProcessorSpec{std::move(name), std::move(description), std::move(params_schema),
                       [fn](const nlohmann::json& params) -> std::unique_ptr<Processor> {
                         return std::make_unique<detail::FunctionProcessor<F>>(fn, params);
                       }};
}

/// A processor type from a class T(const nlohmann::json& params) deriving from Processor; its
/// constructor throws ParamError for a bad parameter.
template <typename T>
ProcessorSpec processor_class(std::string name, std::string description, std::string params_schema) {
  return ProcessorSpec{
      std::move(name), std::move(description), std::move(params_schema),
      [](const nlohmann::json& params) -> std::unique_ptr<Processor> { return std::make_unique<T>(params); }};
}

}  // namespace am2z::sdk

/// Defines the plugin's entry point from a name and the processor specs.
#define AM2Z_PLUGIN(plugin_name, ...)                                                               \
  extern "C" __attribute__((visibility("default"))) const am2z_plugin_v1* am2z_plugin_entry(void) { \
    static const ::am2z::sdk::detail::Plugin plugin(plugin_name, {__VA_ARGS__});                    \
    return plugin.descriptor();                                                                     \
  }
