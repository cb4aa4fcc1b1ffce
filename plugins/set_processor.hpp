#pragma once
// `set`: assigns fixed values at paths of the state.
#include "core/processor.hpp"

namespace am2z {

/// The `set` processor type: with {values: {path: value, ...}}.
ProcessorType set_processor_type();

}  // namespace am2z
