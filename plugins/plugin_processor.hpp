#pragma once
// A processor type of a C++ plugin, seen through the am2z::Processor interface.
#include <memory>

#include "core/processor.hpp"

struct am2z_processor_type_v1;

namespace am2z {

class PluginLibrary;

/// Wraps one type of `library`; instances keep the library loaded. origin = "plugin:<path>".
ProcessorType plugin_processor_type(std::shared_ptr<PluginLibrary> library, const am2z_processor_type_v1& type,
                                    Json params_schema);

}  // namespace am2z
