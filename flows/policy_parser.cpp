#include "flows/policy_parser.hpp"

#include <limits>

#include "flows/flow_format.hpp"
#include "flows/readers.hpp"

namespace am2z {

std::optional<RetryPolicy> parse_retry(Reporter& reporter, const Field& field) {
  const std::size_t before = reporter.count();
  MapReader map(reporter, field, "a retry policy map");
  if (!map.ok()) return std::nullopt;
  map.check_keys(key_names(retry_fields()));
  RetryPolicy policy;
  if (const Field* f = map.get("attempts")) {
    // attempts counts the first try too; an int keeps it well inside RetryPolicy::attempts.
    if (auto v = read_int(reporter, *f, 1)) {
      if (*v > std::numeric_limits<int>::max())
        reporter.error(*f, "too many attempts: " + std::to_string(*v));
      else
        policy.attempts = static_cast<int>(*v);
    }
  }
  if (const Field* f = map.get("backoff")) {
    if (auto v = read_duration(reporter, *f)) policy.initial_backoff = *v;
  }
  if (const Field* f = map.get("multiplier")) {
    if (auto v = read_number(reporter, *f, 1.0, std::numeric_limits<double>::infinity())) policy.multiplier = *v;
  }
  if (const Field* f = map.get("max_backoff")) {
    if (auto v = read_duration(reporter, *f)) policy.max_backoff = *v;
  }
  if (const Field* f = map.get("jitter")) {
    if (auto v = read_number(reporter, *f, 0.0, 1.0)) policy.jitter = *v;
  }
  if (const Field* f = map.get("on")) {
    if (auto items = read_list(reporter, *f)) {
      for (const auto& item : *items) {
        auto text = read_string(reporter, item);
        if (!text) continue;
        // A category name means the whole category; anything else is an error code.
        ErrorCategory category{};
        if (parse_category(*text, category))
          policy.on_categories.push_back(category);
        else
          policy.on_codes.push_back(*text);
      }
    }
  }
  if (reporter.count() != before) return std::nullopt;
  return policy;
}

ProcessorDefaults parse_defaults(Reporter& reporter, const Field& field) {
  ProcessorDefaults defaults;
  MapReader map(reporter, field);
  if (!map.ok()) return defaults;
  map.check_keys(key_names(defaults_fields()));
  if (const Field* f = map.get("timeout")) defaults.timeout = read_timeout(reporter, *f);
  if (const Field* f = map.get("retry")) defaults.retry = parse_retry(reporter, *f);
  return defaults;
}

}  // namespace am2z
