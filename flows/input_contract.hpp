#pragma once
// A flow's `input:` contract: the input data is checked against it before anything runs.
#include "core/flow.hpp"
#include "core/result.hpp"

namespace am2z {

/// Checks `data` against flow.input_schema (no schema: anything goes). A mismatch is a
/// ValidationError whose field is the JSON pointer of the first offending value ("/order/total"),
/// whose context.value is that value (null when it is missing) and whose context.violations
/// lists every {pointer, message}.
Status check_input(const Flow& flow, const Json& data);

}  // namespace am2z
