#pragma once
// Runs n pieces of work (parallel branches, batch items) on the calling thread and on up to
// `threads - 1` pool threads, each thread claiming the next unclaimed piece. The caller works
// too, so short pieces finish on it before a pool thread has even woken: a hand-off costs a
// thread wake-up (microseconds), more than a short step. Pool threads are started one at a time
// as pieces are claimed (each started helper starts the next while work is left), so blocking
// pieces (sleep, exec) still all run at once, and a fan-out of instant pieces costs one submit.
#include <cstddef>
#include <functional>

#include "core/task_pool.hpp"

namespace am2z {

/// Calls `piece(i)` once for every i in [0, n), at most `threads` at a time (at least 1), and
/// returns when all have returned. `piece` may run on pool threads; it is never called after
/// fan_out returns (helpers that start late find nothing left and touch nothing of the caller's).
void fan_out(TaskPool& pool, std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& piece);

}  // namespace am2z
