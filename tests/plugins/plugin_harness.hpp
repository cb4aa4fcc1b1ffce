#pragma once
// What the plugin tests share: a Context without an engine, and processors built by type name.
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "core/context.hpp"
#include "core/processor.hpp"
#include "flows/params_validation.hpp"
#include "plugins/builtins.hpp"

namespace am2z::test {

/// A Context for one attempt of one step, with a cancel source the test controls.
struct Harness {
  explicit Harness(Deadline deadline = kNoDeadline, int attempt = 1,
                   std::shared_ptr<spdlog::logger> logger = spdlog::default_logger())
      : token(source.token()), scope{&run, &token, deadline, 0}, ctx(scope, "step", 7, attempt) {
    run.logger = std::move(logger);
    run.session_id = "sess-1";
    run.run_id = "run-1";
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  detail::RunShared run;
  CancelSource source;
  CancelToken token;
  Scope scope;
  Context ctx;
};

/// The registry with every built-in type.
inline const ProcessorRegistry& builtins() {
  static const ProcessorRegistry registry = [] {
    ProcessorRegistry r;
    register_builtins(r);
    return r;
  }();
  return registry;
}

/// Creates a processor of a built-in type as a flow would: `with` checked against the type's
/// params_schema, then the factory. The Result carries the first error.
inline Result<std::unique_ptr<Processor>> create(const std::string& type, const Json& with) {
  const ProcessorType* t = builtins().find(type);
  if (t == nullptr) return fail(errors::configuration(type, "no such built-in type"));
  return create_processor(*t, with);
}

/// The `field` a factory's ValidationError points at, or "" when it succeeded or said none.
inline std::string rejected_field(const std::string& type, const Json& with) {
  auto p = create(type, with);
  if (p) return "";
  const Json& ctx = p.error().context;
  return ctx.is_object() && ctx.contains("field") ? ctx["field"].get<std::string>() : "";
}

/// Milliseconds since `start`.
inline long long elapsed_ms(SteadyClock::time_point start) {
  return std::chrono::duration_cast<Millis>(SteadyClock::now() - start).count();
}

}  // namespace am2z::test
