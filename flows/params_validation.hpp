#pragma once
// A processor's `with:` is checked against its type's params_schema before its factory runs, so
// a factory only reads values the schema already vouched for (one validator for every type).
#include <memory>
#include <vector>

#include "core/processor.hpp"
#include "flows/json_schema.hpp"

namespace am2z {

/// What is wrong with `with` (null means no parameters) for `type`; the compiled schema is cached
/// by its text. A params_schema valijson cannot compile is a ConfigurationError.
Result<std::vector<SchemaViolation>> check_params(const ProcessorType& type, const Json& with);

/// check_params, then the factory: the first violation becomes a ValidationError whose
/// context.field is the path inside `with` ("argv[1]"; "with" for the map itself). For callers
/// without a flow file, such as tests and embedders.
Result<std::unique_ptr<Processor>> create_processor(const ProcessorType& type, const Json& with);

}  // namespace am2z
