#pragma once
// Runs a piece of a flow on another thread with a deadline, so the caller gets its answer at the
// deadline even if the work does not cooperate; the work's token fires and its result is dropped.
#include <functional>
#include <string>

#include "core/context.hpp"

namespace am2z {

using NodeBody = std::function<Status(State&, const Scope&)>;

/// Runs `body` on a copy of `state` until `deadline` (already min'd with the scope's). On success
/// the copy replaces `state`. On timeout: a ProcessorTimeoutError "'<what>' timed out after <ms>ms".
/// When the scope's token fires first: a CancelledError carrying its reason.
Status run_guarded(const NodeBody& body, State& state, const Scope& scope, Deadline deadline, const std::string& what,
                   Millis timeout);

/// min(scope deadline, now + timeout)
Deadline deadline_after(const Scope& scope, Millis timeout);

}  // namespace am2z
