#pragma once
// `log`: writes a message with values from the state to the run's logger.
#include "core/processor.hpp"

namespace am2z {

/// The `log` processor type: with {message, level?}.
ProcessorType log_processor_type();

}  // namespace am2z
