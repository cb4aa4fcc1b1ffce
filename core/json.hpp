#pragma once
// The one JSON type used everywhere: sorted object keys give deterministic output.
#include <nlohmann/json.hpp>

namespace am2z {
using Json = nlohmann::json;
}  // namespace am2z
