#pragma once
// Ctrl-C and SIGTERM become a cancellation of the run instead of killing the process mid-step.
#include <functional>

#include "core/cancel.hpp"

namespace am2z::cli {

/// Installs SIGINT/SIGTERM handlers that fire the returned token (a second signal exits at once
/// with 130). Call once, before the run starts.
CancelToken install_interrupt_handler();

/// Calls `on_hangup` on a thread of its own at every SIGHUP (the first call installs the
/// handler); an empty function stops the calls. Before the first call SIGHUP keeps its default.
void set_hangup_handler(std::function<void()> on_hangup);

}  // namespace am2z::cli
