#pragma once
// The seed's configuration variables that reach the engine (README, "Configuration"): read once,
// checked by the CLI before a command runs, so a malformed value is a usage error naming the
// variable instead of a silent fallback. Flags always win over these.
#include <optional>

#include "core/cancel.hpp"
#include "core/result.hpp"

namespace am2z {

/// AM2Z_DEFAULT_TIMEOUT: the per-attempt timeout of every processor instance whose flow file sets
/// none (neither its own `timeout:` nor `defaults.timeout`). A duration ("5m") or, as in the seed,
/// milliseconds ("300000"). nullopt when unset or empty.
Result<std::optional<Millis>> env_default_timeout();

/// AM2Z_MAX_CALL_DEPTH: the nested ctx.call limit when --max-call-depth is not given; an
/// integer >= 1. nullopt when unset or empty.
Result<std::optional<int>> env_max_call_depth();

}  // namespace am2z
