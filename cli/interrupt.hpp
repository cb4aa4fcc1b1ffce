#pragma once
// Ctrl-C and SIGTERM become a cancellation of the run instead of killing the process mid-step.
#include "core/cancel.hpp"

namespace am2z::cli {

/// Installs SIGINT/SIGTERM handlers that fire the returned token (a second signal exits at once
/// with 130). Call once, before the run starts.
CancelToken install_interrupt_handler();

}  // namespace am2z::cli
