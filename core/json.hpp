#pragma once
// The one JSON type used everywhere: sorted object keys give deterministic output.
#include <nlohmann/json.hpp>

#include <string>

namespace am2z {
using Json = nlohmann::json;

/// Compact JSON text of `j`. Bytes from outside quoted in a message (a job id from Redis, a parse
/// error's last token) may be invalid UTF-8: they become U+FFFD instead of throwing.
inline std::string dump_text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
}  // namespace am2z
