#pragma once
// The merge built-in: see merge_processor_type().description.
#include "core/processor.hpp"

namespace am2z {

ProcessorType merge_processor_type();

}  // namespace am2z
