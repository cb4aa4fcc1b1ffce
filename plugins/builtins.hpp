#pragma once
// The processor types every am2z binary has: exec, set, merge, pick, delete, validate, http, sleep, fail, log.
#include "core/processor.hpp"

namespace am2z {

/// Adds the built-in processor types to `registry`.
void register_builtins(ProcessorRegistry& registry);

}  // namespace am2z
