#pragma once
// Our Lua scripts (core/redis/lua/*.lua, embedded at build time), run with EVALSHA and loaded
// again when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).
#include <string>
#include <vector>

#include "core/redis/connection.hpp"

namespace am2z::redis {

enum class ScriptId { step, stalled, extend_locks, session_jobs };

/// Runs a script with no declared keys and `args` as ARGV. A Redis error reply from inside the
/// script is an ExecutionError naming the script.
Result<Reply> run_script(Connection& c, ScriptId id, const std::vector<std::string>& args);

}  // namespace am2z::redis
