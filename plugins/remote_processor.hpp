#pragma once
// `remote`: a step that another program performs, as a plain job on a BullMQ queue (a Node
// BullMQ Worker, say). It exists only in distributed runs: the am2z worker enqueues the job, the
// remote worker returns the new state, and the flow continues when that job completes.
#include "core/processor.hpp"

namespace am2z {

/// The `remote` processor type: with {queue}.
ProcessorType remote_processor_type();

}  // namespace am2z
