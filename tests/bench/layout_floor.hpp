#pragma once
// The floor under am2z's step calls: what Redis spends per job on BullMQ's key layout and the
// one-outcome rule alone, with none of am2z's own logic (tests/bench/layout_floor.cpp).
#include "core/redis/connection.hpp"
#include "core/redis/planner.hpp"

namespace am2z::bench {

/// Submits `n` one-step runs of `flow` (one queue) as process_c64 does, then takes and finishes
/// them with a minimal Redis function, 64 jobs per call, one call in flight: per job the
/// commands any worker keeping BullMQ's layout and one outcome per run sends (HGETALL, the
/// lock's SET, the start fields' HSET; LREM, the finish's HSET, the completed event's XADD, the
/// outcome's SET NX), the locks read and released, the completed set and the reply list written
/// in one command per call. Prints one JSON line: scenario layout_floor_c64, Redis CPU per job.
void layout_floor_scenario(redis::Connection& c, const redis::PlannedFlow& flow, long long n);

}  // namespace am2z::bench
