#pragma once
// The validate built-in: see validate_processor_type().description.
#include "core/processor.hpp"

namespace am2z {

ProcessorType validate_processor_type();

}  // namespace am2z
