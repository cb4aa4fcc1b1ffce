#pragma once
// `exec`: runs a program that reads the state as JSON on stdin and writes the new data on stdout.
#include "core/processor.hpp"

namespace am2z {

/// The `exec` processor type: with {argv, env?, cwd?, kill_grace?}.
ProcessorType exec_processor_type();

}  // namespace am2z
