#pragma once
// The delete built-in: see delete_processor_type().description.
#include "core/processor.hpp"

namespace am2z {

ProcessorType delete_processor_type();

}  // namespace am2z
