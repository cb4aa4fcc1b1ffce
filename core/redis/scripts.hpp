#pragma once
// Our Lua scripts (core/redis/lua/*.lua, embedded at build time), run with EVALSHA, and the step
// function, a Redis Functions library run with FCALL (Redis 7.0 or later); loaded again when the
// server lost them (NOSCRIPT, "Function not found": a restart, SCRIPT FLUSH, FUNCTION FLUSH).
#include <string>
#include <vector>

#include "core/redis/connection.hpp"

namespace am2z::redis {

enum class ScriptId { step, stalled, extend_locks, session_jobs };

/// Runs a script with `args` as ARGV and, when the connection's endpoint has a slot key, that key
/// as its one declared key (a Redis Cluster routes the call by it; the scripts build their keys
/// from ARGV, all in that slot). A Redis error reply from inside the
/// script is an ExecutionError naming the script.
Result<Reply> run_script(Connection& c, ScriptId id, const std::vector<std::string>& args);

/// The start of a call's arguments on `c`: the command and the script (send_script fills both in), and no
/// key, or the endpoint's slot key (a Redis Cluster routes the call by it). Append ARGV to it.
std::vector<std::string> script_call(const Connection& c);
/// Sends a call begun with script_call(c) without reading its reply (Connection::send), loading
/// the script first if this process has not (nothing may be in flight on `c` then).
Status send_script(Connection& c, ScriptId id, std::vector<std::string>& call);
/// The reply to the oldest call sent by send_script. An error reply from inside the script is an
/// ExecutionError naming the script; NOSCRIPT or "Function not found" (the server lost them: a
/// restart, SCRIPT FLUSH, FUNCTION FLUSH) is a retryable NetworkError, and the next send_script
/// loads the script again.
Result<Reply> receive_script(Connection& c, ScriptId id);

}  // namespace am2z::redis
