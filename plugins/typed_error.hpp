#pragma once
// The typed error a plugin or an exec program reports, mapped onto the error taxonomy.
#include <string_view>

#include "core/error.hpp"

namespace am2z {

/// Builds an Error from {"code", "message", "retryable", "category", "details"} as reported by
/// `processor` (from `origin`, e.g. "plugin:/x.so" or "exec:./tool.py"). The category picks the
/// class name (business -> BusinessError, network -> NetworkError, ...); a missing or unknown
/// category is business. A report that is not an object becomes a ProcessorExecutionError.
Error typed_error(const Json& reported, std::string_view processor, std::string_view origin);

}  // namespace am2z
