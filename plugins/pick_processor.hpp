#pragma once
// The pick built-in: see pick_processor_type().description.
#include "core/processor.hpp"

namespace am2z {

ProcessorType pick_processor_type();

}  // namespace am2z
