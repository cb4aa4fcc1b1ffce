#pragma once
// `am2z schema`: the JSON Schema (draft-07) of flow files, for editors (yaml-language-server) and CI.
#include "core/json.hpp"
#include "core/processor.hpp"

namespace am2z {

/// The flow-file schema: the key tables of flows/flow_format.hpp, with each processor type's
/// params_schema selected by `use:` (if/then), so a type registered later appears by itself.
Json flow_schema(const ProcessorRegistry& registry);

}  // namespace am2z
