#pragma once
// `sleep`: waits, cancellably; for pacing and for testing timeouts.
#include "core/processor.hpp"

namespace am2z {

/// The `sleep` processor type: with {duration}.
ProcessorType sleep_processor_type();

}  // namespace am2z
