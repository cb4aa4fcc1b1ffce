#include "plugins/fail_processor.hpp"

#include <array>
#include <optional>
#include <string>

#include "plugins/params.hpp"

namespace am2z {

namespace {

constexpr std::array<std::string_view, 7> kKinds = {"validation", "execution",     "timeout", "resource",
                                                    "network",    "configuration", "business"};

class FailProcessor final : public Processor {
 public:
  bool instant() const override { return true; }
  FailProcessor(ErrorCategory category, std::string code, std::string message, std::optional<long long> times)
      : category_(category), code_(std::move(code)), message_(std::move(message)), times_(times) {}

  Status process(State& /*state*/, Context& ctx) const override {
    if (times_ && ctx.attempt() > *times_) return {};
    return fail(make_error(std::string(ctx.processor_name())));
  }

 private:
  Error make_error(const std::string& name) const {
    Error e;
    switch (category_) {
      case ErrorCategory::validation:
        e = errors::validation(name, nullptr, message_);
        break;
      case ErrorCategory::timeout:
        e = errors::timeout(name, 0);
        break;
      case ErrorCategory::resource:
        e = errors::resource(name, 0, 0);
        break;
      case ErrorCategory::network:
        e = errors::network(name, 0, message_);
        break;
      case ErrorCategory::configuration:
        e = errors::configuration(name, message_);
        break;
      case ErrorCategory::business:
        e = errors::business(code_, message_);
        break;
      default:
        e = errors::execution(name, message_);
        break;
    }
    // The factory gives name, code, category, severity and retryability; the text is exactly
    // what the flow asked for, so tests and demos can match it.
    e.message = message_;
    return e;
  }

  ErrorCategory category_;
  std::string code_;
  std::string message_;
  std::optional<long long> times_;
};

Result<std::unique_ptr<Processor>> create_fail(const Json& with) {
  // Keys, types, the error enum and times >= 1 are the schema's; only `code` depends on `error`.
  ErrorCategory category = ErrorCategory::business;
  parse_category(params::text(with, "error", "business"), category);
  if (const Json* v = params::find(with, "code"); v != nullptr && category != ErrorCategory::business) {
    return fail(errors::validation("code", *v, "only applies to error: business; other errors have fixed codes"));
  }
  std::string code = params::text(with, "code", "FAILED");
  std::string message = params::text(with, "message", "failed by the fail processor");
  std::optional<long long> times;
  if (const Json* v = params::find(with, "times"); v != nullptr && v->is_number_integer()) times = v->get<long long>();
  return std::make_unique<FailProcessor>(category, std::move(code), std::move(message), times);
}

}  // namespace

ProcessorType fail_processor_type() {
  ProcessorType type;
  type.name = "fail";
  type.description = "Fails with the chosen error; with `times`, only the first N attempts fail, to exercise retries";
  Json kinds = Json::array();
  for (std::string_view k : kKinds) kinds.push_back(k);
  type.params_schema = Json{
      {"type", "object"},
      {"properties",
       {{"error", {{"type", "string"}, {"enum", kinds}, {"default", "business"}, {"description", "error category"}}},
        {"code", {{"type", "string"}, {"minLength", 1}, {"default", "FAILED"}, {"description", "business error code"}}},
        {"message",
         {{"type", "string"}, {"default", "failed by the fail processor"}, {"description", "error message"}}},
        {"times",
         {{"type", "integer"}, {"minimum", 1}, {"description", "fail only attempts 1..times of each execution"}}}}},
      {"required", Json::array()},
      {"additionalProperties", false}};
  type.create = create_fail;
  return type;
}

}  // namespace am2z
