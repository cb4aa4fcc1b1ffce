#include "core/error.hpp"

#include <array>
#include <utility>

namespace am2z {

namespace {
constexpr std::array<std::pair<ErrorCategory, std::string_view>, 9> kCategories{{
    {ErrorCategory::validation, "validation"},
    {ErrorCategory::execution, "execution"},
    {ErrorCategory::timeout, "timeout"},
    {ErrorCategory::resource, "resource"},
    {ErrorCategory::network, "network"},
    {ErrorCategory::configuration, "configuration"},
    {ErrorCategory::auth, "auth"},
    {ErrorCategory::business, "business"},
    {ErrorCategory::cancelled, "cancelled"},
}};
constexpr std::array<std::string_view, 4> kSeverities{"low", "medium", "high", "critical"};

Error make(std::string name, std::string code, ErrorCategory category, Severity severity, bool retryable,
           std::string message, Json context) {
  Error e;
  e.name = std::move(name);
  e.code = std::move(code);
  e.category = category;
  e.severity = severity;
  e.retryable = retryable;
  e.message = std::move(message);
  e.context = std::move(context);
  return e;
}
}  // namespace

std::string_view to_string(ErrorCategory c) {
  for (const auto& [cat, text] : kCategories) {
    if (cat == c) return text;
  }
  return "execution";
}

std::string_view to_string(Severity s) { return kSeverities[static_cast<std::size_t>(s)]; }

bool parse_category(std::string_view text, ErrorCategory& out) {
  for (const auto& [cat, name] : kCategories) {
    if (name == text) {
      out = cat;
      return true;
    }
  }
  return false;
}

Json Error::to_json() const {
  Json j{{"name", name},
         {"code", code},
         {"message", message},
         {"category", to_string(category)},
         {"severity", to_string(severity)},
         {"retryable", retryable},
         {"context", context}};
  if (cause) j["cause"] = cause->to_json();
  if (partial_state) j["partialState"] = *partial_state;
  return j;
}

Error Error::from_json(const Json& j) {
  Error e = errors::execution("unknown", "malformed error");
  if (!j.is_object()) return e;
  auto str = [&](const char* key, std::string& out) {
    if (auto it = j.find(key); it != j.end() && it->is_string()) out = it->get<std::string>();
  };
  str("name", e.name);
  str("code", e.code);
  str("message", e.message);
  if (auto it = j.find("category"); it != j.end() && it->is_string())
    parse_category(it->get<std::string>(), e.category);
  if (auto it = j.find("severity"); it != j.end() && it->is_string()) {
    for (std::size_t i = 0; i < kSeverities.size(); ++i) {
      if (kSeverities[i] == it->get<std::string>()) e.severity = static_cast<Severity>(i);
    }
  }
  if (auto it = j.find("retryable"); it != j.end() && it->is_boolean()) e.retryable = it->get<bool>();
  if (auto it = j.find("context"); it != j.end() && it->is_object()) e.context = *it;
  if (auto it = j.find("cause"); it != j.end() && it->is_object()) e.cause = std::make_shared<Error>(from_json(*it));
  if (auto it = j.find("partialState"); it != j.end()) e.partial_state = std::make_shared<Json>(*it);
  return e;
}

namespace errors {

Error validation(std::string field, Json value, std::string reason) {
  std::string message = "Validation failed for field '" + field + "': " + reason;
  return make("ValidationError", "VALIDATION_FAILED", ErrorCategory::validation, Severity::low, false,
              std::move(message), Json{{"field", field}, {"value", std::move(value)}, {"reason", reason}});
}

Error processor_not_found(std::string name, std::string_view available) {
  std::string message = "Processor '" + name + "' not found. Available: " + std::string(available);
  return make("ProcessorNotFoundError", "PROCESSOR_NOT_FOUND", ErrorCategory::execution, Severity::high, false,
              std::move(message), Json{{"processorName", name}});
}

Error execution(std::string processor, std::string message) {
  std::string full = "Processor '" + processor + "' execution failed: " + message;
  return make("ProcessorExecutionError", "PROCESSOR_EXECUTION_FAILED", ErrorCategory::execution, Severity::high, true,
              std::move(full), Json{{"processorName", processor}});
}

Error timeout(std::string operation, long long timeout_ms) {
  std::string message = "'" + operation + "' timed out after " + std::to_string(timeout_ms) + "ms";
  return make("ProcessorTimeoutError", "OPERATION_TIMEOUT", ErrorCategory::timeout, Severity::medium, true,
              std::move(message), Json{{"operation", operation}, {"timeoutMs", timeout_ms}});
}

Error resource(std::string resource_name, long long limit, long long current) {
  std::string message =
      "Resource '" + resource_name + "' exhausted: " + std::to_string(current) + "/" + std::to_string(limit);
  return make("ResourceError", "RESOURCE_EXHAUSTED", ErrorCategory::resource, Severity::high, true, std::move(message),
              Json{{"resource", resource_name}, {"limit", limit}, {"current", current}});
}

Error network(std::string endpoint, int status, std::string detail) {
  std::string message = "Network error for endpoint '" + endpoint + "'";
  if (status != 0) message += " (" + std::to_string(status) + ")";
  if (!detail.empty()) message += ": " + detail;
  Json ctx{{"endpoint", endpoint}};
  if (status != 0) ctx["statusCode"] = status;
  return make("NetworkError", "NETWORK_ERROR", ErrorCategory::network, Severity::medium, true, std::move(message),
              std::move(ctx));
}

Error configuration(std::string key, std::string reason) {
  std::string message = "Configuration error for '" + key + "': " + reason;
  return make("ConfigurationError", "INVALID_CONFIGURATION", ErrorCategory::configuration, Severity::critical, false,
              std::move(message), Json{{"configKey", key}, {"reason", reason}});
}

Error business(std::string code, std::string message, Severity severity) {
  return make("BusinessError", std::move(code), ErrorCategory::business, severity, false, std::move(message),
              Json::object());
}

Error call_depth_exceeded(int max_depth, int depth) {
  std::string message = "Maximum call depth exceeded: " + std::to_string(depth) + " >= " + std::to_string(max_depth);
  return make("CallDepthExceededError", "CALL_DEPTH_EXCEEDED", ErrorCategory::execution, Severity::high, false,
              std::move(message), Json{{"maxDepth", max_depth}, {"currentDepth", depth}});
}

Error cancelled(std::string reason) {
  std::string message = "cancelled: " + reason;
  return make("CancelledError", "CANCELLED", ErrorCategory::cancelled, Severity::medium, false, std::move(message),
              Json{{"reason", reason}});
}

}  // namespace errors
}  // namespace am2z
