#pragma once
// The error taxonomy of AM2Z, as values: every failure on the engine's paths is an Error.
#include <memory>
#include <string>
#include <string_view>

#include "core/json.hpp"

namespace am2z {

enum class ErrorCategory {
  validation,
  execution,
  timeout,
  resource,
  network,
  configuration,
  auth,
  business,
  cancelled
};
enum class Severity { low, medium, high, critical };

std::string_view to_string(ErrorCategory c);
std::string_view to_string(Severity s);
/// Parses a category name such as "network"; false when unknown.
bool parse_category(std::string_view text, ErrorCategory& out);

/// One failure: a stable code, a class name, a category, whether a retry may help, and context.
struct Error {
  std::string name;  ///< class name of the original taxonomy, e.g. "ValidationError"
  std::string code;  ///< stable machine code, e.g. "VALIDATION_FAILED"
  ErrorCategory category = ErrorCategory::execution;
  Severity severity = Severity::medium;
  bool retryable = false;
  std::string message;
  Json context = Json::object();
  std::shared_ptr<const Error> cause;         ///< the error this one wraps, if any
  std::shared_ptr<const Json> partial_state;  ///< state before the failing step, when known

  /// {name, code, message, category, severity, retryable, context[, cause][, partialState]}
  Json to_json() const;
  /// Rebuilds an error from to_json() output; unknown shapes become a ProcessorExecutionError.
  static Error from_json(const Json& j);
};

/// Factories with the original's codes, categories, severities and message formats.
namespace errors {
Error validation(std::string field, Json value, std::string reason);
Error processor_not_found(std::string name, std::string_view available);
Error execution(std::string processor, std::string message);
Error timeout(std::string operation, long long timeout_ms);
Error resource(std::string resource, long long limit, long long current);
Error network(std::string endpoint, int status, std::string detail);
Error configuration(std::string key, std::string reason);
Error business(std::string code, std::string message, Severity severity = Severity::medium);
Error call_depth_exceeded(int max_depth, int depth);
Error cancelled(std::string reason);
}  // namespace errors

}  // namespace am2z
