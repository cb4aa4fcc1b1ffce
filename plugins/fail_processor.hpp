#pragma once
// `fail`: fails on purpose with a chosen error, optionally only for the first attempts.
#include "core/processor.hpp"

namespace am2z {

/// The `fail` processor type: with {error?, code?, message?, times?}.
ProcessorType fail_processor_type();

}  // namespace am2z
