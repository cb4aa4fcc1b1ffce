#pragma once
// The flow graph the engine runs: the processor leaf and every composite kind.
#include "core/kinds/batch.hpp"     // IWYU pragma: export
#include "core/kinds/chain.hpp"     // IWYU pragma: export
#include "core/kinds/parallel.hpp"  // IWYU pragma: export
#include "core/kinds/route.hpp"     // IWYU pragma: export
#include "core/node_base.hpp"       // IWYU pragma: export
