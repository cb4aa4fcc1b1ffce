#pragma once
// One processor instance (`use:` + `with:` + policy) from its YAML map.
#include <memory>
#include <string>
#include <vector>

#include "core/node.hpp"
#include "core/processor.hpp"
#include "flows/policy_parser.hpp"
#include "flows/readers.hpp"

namespace am2z {

/// Keys of a processor instance under `processors:`; an inline one also takes `name`.
const std::vector<std::string>& processor_keys();

/// Looks the type up in `registry`, creates the processor from `with:` and applies the policy
/// (falling back to `defaults` for timeout and retry). The caller checks the map's keys.
/// nullptr after reporting mistakes; `with:` errors from the factory point at the offending value.
std::shared_ptr<ProcessorInstance> parse_processor(Reporter& reporter, const MapReader& spec, std::string name,
                                                   const ProcessorRegistry& registry,
                                                   const ProcessorDefaults& defaults);

}  // namespace am2z
