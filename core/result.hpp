#pragma once
// Results are values: std::expected carries either the value or an Error.
#include <expected>

#include "core/error.hpp"

namespace am2z {

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

/// Shorthand for returning a failure: `return fail(errors::timeout(...));`
inline std::unexpected<Error> fail(Error e) { return std::unexpected<Error>(std::move(e)); }

}  // namespace am2z
