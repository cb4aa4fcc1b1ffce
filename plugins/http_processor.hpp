#pragma once
// The http built-in: see http_processor_type().description.
#include "core/processor.hpp"

namespace am2z {

ProcessorType http_processor_type();

}  // namespace am2z
