#pragma once
// Retry policies and the `defaults:` section.
#include <optional>

#include "core/policy.hpp"
#include "flows/field.hpp"

namespace am2z {

/// What `defaults:` gives every processor instance that does not set the same key itself.
struct ProcessorDefaults {
  std::optional<Millis> timeout;
  std::optional<RetryPolicy> retry;
  /// Directory of the flow file: a processor type with a `cwd` parameter runs there by default,
  /// and a relative `cwd` is taken relative to it. Empty: the current directory.
  std::string base_dir;
};

/// Reads {attempts, backoff, multiplier, max_backoff, jitter, on}; nullopt after reporting mistakes.
std::optional<RetryPolicy> parse_retry(Reporter& reporter, const Field& field);

/// Reads the `defaults:` map {timeout, retry}.
ProcessorDefaults parse_defaults(Reporter& reporter, const Field& field);

}  // namespace am2z
