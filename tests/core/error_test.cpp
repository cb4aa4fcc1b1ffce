// The error taxonomy: codes, categories, severities, retryability, message formats, JSON form.
#include "core/error.hpp"

#include <doctest/doctest.h>

#include <iterator>
#include <memory>

using namespace am2z;

TEST_CASE("category and severity names round-trip") {
  const ErrorCategory all[] = {ErrorCategory::validation, ErrorCategory::execution, ErrorCategory::timeout,
                               ErrorCategory::resource,   ErrorCategory::network,   ErrorCategory::configuration,
                               ErrorCategory::auth,       ErrorCategory::business,  ErrorCategory::cancelled};
  const char* names[] = {"validation",    "execution", "timeout",  "resource", "network",
                         "configuration", "auth",      "business", "cancelled"};
  for (std::size_t i = 0; i < std::size(all); ++i) {
    CAPTURE(names[i]);
    CHECK(to_string(all[i]) == names[i]);
    ErrorCategory parsed = ErrorCategory::execution;
    CHECK(parse_category(names[i], parsed));
    CHECK(parsed == all[i]);
  }
  ErrorCategory untouched = ErrorCategory::network;
  CHECK_FALSE(parse_category("Network", untouched));  // case matters
  CHECK_FALSE(parse_category("", untouched));
  CHECK(untouched == ErrorCategory::network);

  CHECK(to_string(Severity::low) == "low");
  CHECK(to_string(Severity::medium) == "medium");
  CHECK(to_string(Severity::high) == "high");
  CHECK(to_string(Severity::critical) == "critical");
}

TEST_CASE("validation error") {
  const Error e = errors::validation("email", "bob", "must contain '@'");
  CHECK(e.name == "ValidationError");
  CHECK(e.code == "VALIDATION_FAILED");
  CHECK(e.category == ErrorCategory::validation);
  CHECK(e.severity == Severity::low);
  CHECK_FALSE(e.retryable);
  CHECK(e.message == "Validation failed for field 'email': must contain '@'");
  CHECK(e.context == Json{{"field", "email"}, {"value", "bob"}, {"reason", "must contain '@'"}});
  CHECK(e.cause == nullptr);
  CHECK(e.partial_state == nullptr);
}

TEST_CASE("processor not found error lists what is available") {
  const Error e = errors::processor_not_found("fetch", "a, b, c");
  CHECK(e.name == "ProcessorNotFoundError");
  CHECK(e.code == "PROCESSOR_NOT_FOUND");
  CHECK(e.category == ErrorCategory::execution);
  CHECK(e.severity == Severity::high);
  CHECK_FALSE(e.retryable);
  CHECK(e.message == "Processor 'fetch' not found. Available: a, b, c");
  CHECK(e.context == Json{{"processorName", "fetch"}});
}

TEST_CASE("execution error is retryable") {
  const Error e = errors::execution("resize", "disk full");
  CHECK(e.name == "ProcessorExecutionError");
  CHECK(e.code == "PROCESSOR_EXECUTION_FAILED");
  CHECK(e.category == ErrorCategory::execution);
  CHECK(e.severity == Severity::high);
  CHECK(e.retryable);
  CHECK(e.message == "Processor 'resize' execution failed: disk full");
  CHECK(e.context == Json{{"processorName", "resize"}});
}

TEST_CASE("timeout error") {
  const Error e = errors::timeout("fetch", 500);
  CHECK(e.name == "ProcessorTimeoutError");
  CHECK(e.code == "OPERATION_TIMEOUT");
  CHECK(e.category == ErrorCategory::timeout);
  CHECK(e.severity == Severity::medium);
  CHECK(e.retryable);
  CHECK(e.message == "'fetch' timed out after 500ms");
  CHECK(e.context == Json{{"operation", "fetch"}, {"timeoutMs", 500}});
}

TEST_CASE("resource error reports current/limit") {
  const Error e = errors::resource("memory", 100, 150);
  CHECK(e.name == "ResourceError");
  CHECK(e.code == "RESOURCE_EXHAUSTED");
  CHECK(e.category == ErrorCategory::resource);
  CHECK(e.severity == Severity::high);
  CHECK(e.retryable);
  CHECK(e.message == "Resource 'memory' exhausted: 150/100");
  CHECK(e.context == Json{{"resource", "memory"}, {"limit", 100}, {"current", 150}});
}

TEST_CASE("network error with and without status and detail") {
  const Error full = errors::network("https://api", 503, "unavailable");
  CHECK(full.name == "NetworkError");
  CHECK(full.code == "NETWORK_ERROR");
  CHECK(full.category == ErrorCategory::network);
  CHECK(full.severity == Severity::medium);
  CHECK(full.retryable);
  CHECK(full.message == "Network error for endpoint 'https://api' (503): unavailable");
  CHECK(full.context == Json{{"endpoint", "https://api"}, {"statusCode", 503}});

  const Error bare = errors::network("https://api", 0, "");
  CHECK(bare.message == "Network error for endpoint 'https://api'");
  CHECK(bare.context == Json{{"endpoint", "https://api"}});
}

TEST_CASE("configuration error is critical and final") {
  const Error e = errors::configuration("db.url", "is required");
  CHECK(e.name == "ConfigurationError");
  CHECK(e.code == "INVALID_CONFIGURATION");
  CHECK(e.category == ErrorCategory::configuration);
  CHECK(e.severity == Severity::critical);
  CHECK_FALSE(e.retryable);
  CHECK(e.message == "Configuration error for 'db.url': is required");
  CHECK(e.context == Json{{"configKey", "db.url"}, {"reason", "is required"}});
}

TEST_CASE("business error keeps its own code and severity") {
  const Error e = errors::business("OUT_OF_STOCK", "sku 42 is out of stock", Severity::high);
  CHECK(e.name == "BusinessError");
  CHECK(e.code == "OUT_OF_STOCK");
  CHECK(e.category == ErrorCategory::business);
  CHECK(e.severity == Severity::high);
  CHECK_FALSE(e.retryable);
  CHECK(e.message == "sku 42 is out of stock");
  CHECK(e.context == Json::object());
  CHECK(errors::business("X", "y").severity == Severity::medium);
}

TEST_CASE("call depth exceeded error") {
  const Error e = errors::call_depth_exceeded(10, 10);
  CHECK(e.name == "CallDepthExceededError");
  CHECK(e.code == "CALL_DEPTH_EXCEEDED");
  CHECK(e.category == ErrorCategory::execution);
  CHECK(e.severity == Severity::high);
  CHECK_FALSE(e.retryable);
  CHECK(e.message == "Maximum call depth exceeded: 10 >= 10");
  CHECK(e.context == Json{{"maxDepth", 10}, {"currentDepth", 10}});
}

TEST_CASE("cancelled error carries the reason") {
  const Error e = errors::cancelled("interrupted");
  CHECK(e.name == "CancelledError");
  CHECK(e.code == "CANCELLED");
  CHECK(e.category == ErrorCategory::cancelled);
  CHECK(e.severity == Severity::medium);
  CHECK_FALSE(e.retryable);
  CHECK(e.message == "cancelled: interrupted");
  CHECK(e.context == Json{{"reason", "interrupted"}});
}

TEST_CASE("to_json shape") {
  Error e = errors::timeout("step", 50);
  Json j = e.to_json();
  CHECK(j == Json{{"name", "ProcessorTimeoutError"},
                  {"code", "OPERATION_TIMEOUT"},
                  {"message", "'step' timed out after 50ms"},
                  {"category", "timeout"},
                  {"severity", "medium"},
                  {"retryable", true},
                  {"context", {{"operation", "step"}, {"timeoutMs", 50}}}});

  e.cause = std::make_shared<const Error>(errors::network("db", 0, "refused"));
  e.partial_state = std::make_shared<const Json>(Json{{"count", 3}});
  j = e.to_json();
  CHECK(j["cause"]["code"] == "NETWORK_ERROR");
  CHECK(j["cause"]["message"] == "Network error for endpoint 'db': refused");
  CHECK(j["partialState"] == Json{{"count", 3}});
}

TEST_CASE("from_json(to_json()) round-trips every factory") {
  const Error samples[] = {
      errors::validation("f", Json::array({1, 2}), "bad"),
      errors::processor_not_found("p", "x, y"),
      errors::execution("p", "boom"),
      errors::timeout("op", 1500),
      errors::resource("cpu", 4, 5),
      errors::network("e", 404, "nope"),
      errors::configuration("k", "r"),
      errors::business("CUSTOM", "m", Severity::critical),
      errors::call_depth_exceeded(3, 3),
      errors::cancelled("why"),
  };
  for (const Error& e : samples) {
    CAPTURE(e.code);
    const Error back = Error::from_json(e.to_json());
    CHECK(back.name == e.name);
    CHECK(back.code == e.code);
    CHECK(back.category == e.category);
    CHECK(back.severity == e.severity);
    CHECK(back.retryable == e.retryable);
    CHECK(back.message == e.message);
    CHECK(back.context == e.context);
    CHECK(back.to_json() == e.to_json());
  }
}

TEST_CASE("from_json round-trips a cause chain and the partial state") {
  Error inner = errors::network("db", 500, "x");
  inner.cause = std::make_shared<const Error>(errors::timeout("socket", 100));
  Error outer = errors::execution("save", "could not save");
  outer.cause = std::make_shared<const Error>(inner);
  outer.partial_state = std::make_shared<const Json>(Json{{"metadata", {{"version", 4}}}, {"n", 1}});

  const Error back = Error::from_json(outer.to_json());
  REQUIRE(back.cause != nullptr);
  CHECK(back.cause->code == "NETWORK_ERROR");
  REQUIRE(back.cause->cause != nullptr);
  CHECK(back.cause->cause->code == "OPERATION_TIMEOUT");
  CHECK(back.cause->cause->cause == nullptr);
  REQUIRE(back.partial_state != nullptr);
  CHECK((*back.partial_state)["n"] == 1);
  CHECK(back.to_json() == outer.to_json());
}

TEST_CASE("from_json of an unknown shape becomes a ProcessorExecutionError") {
  for (const Json& j : {Json("just text"), Json(42), Json::array(), Json(nullptr)}) {
    CAPTURE(j.dump());
    const Error e = Error::from_json(j);
    CHECK(e.name == "ProcessorExecutionError");
    CHECK(e.code == "PROCESSOR_EXECUTION_FAILED");
    CHECK(e.message.find("malformed error") != std::string::npos);
  }
  // Known fields of a partial object are kept, the rest defaults; a bad category is ignored.
  const Error e = Error::from_json(Json{{"code", "MY_CODE"}, {"category", "no-such-category"}, {"severity", "low"}});
  CHECK(e.code == "MY_CODE");
  CHECK(e.category == ErrorCategory::execution);
  CHECK(e.severity == Severity::low);
}
