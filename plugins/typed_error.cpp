#include "plugins/typed_error.hpp"

#include <array>
#include <string>
#include <utility>

namespace am2z {

namespace {

constexpr std::array<std::pair<ErrorCategory, std::string_view>, 9> kClassNames{{
    {ErrorCategory::validation, "ValidationError"},
    {ErrorCategory::execution, "ProcessorExecutionError"},
    {ErrorCategory::timeout, "ProcessorTimeoutError"},
    {ErrorCategory::resource, "ResourceError"},
    {ErrorCategory::network, "NetworkError"},
    {ErrorCategory::configuration, "ConfigurationError"},
    {ErrorCategory::auth, "AuthenticationError"},
    {ErrorCategory::business, "BusinessError"},
    {ErrorCategory::cancelled, "CancelledError"},
}};

std::string_view class_name(ErrorCategory category) {
  for (const auto& [c, name] : kClassNames) {
    if (c == category) return name;
  }
  return "BusinessError";
}

std::string string_member(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Error typed_error(const Json& reported, std::string_view processor, std::string_view origin) {
  if (!reported.is_object()) {
    Error e =
        errors::execution(std::string(processor), "reported an error that is not a JSON object: " +
                                                      reported.dump(-1, ' ', false, Json::error_handler_t::replace));
    e.context["origin"] = origin;
    return e;
  }
  ErrorCategory category = ErrorCategory::business;
  if (std::string text = string_member(reported, "category"); !text.empty() && !parse_category(text, category)) {
    category = ErrorCategory::business;
  }
  std::string code = string_member(reported, "code");
  if (code.empty()) code = "PROCESSOR_ERROR";
  std::string message = string_member(reported, "message");
  if (message.empty()) message = "'" + std::string(processor) + "' failed with " + code;
  Error e = errors::business(std::move(code), std::move(message));
  e.category = category;
  e.name = class_name(category);
  auto retryable = reported.find("retryable");
  e.retryable = retryable != reported.end() && retryable->is_boolean() && retryable->get<bool>();
  e.context = Json{{"processorName", processor}, {"origin", origin}};
  if (auto details = reported.find("details"); details != reported.end() && !details->is_null()) {
    e.context["details"] = *details;
  }
  return e;
}

}  // namespace am2z
