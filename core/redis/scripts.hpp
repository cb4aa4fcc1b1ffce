#pragma once
// Our Lua scripts (core/redis/lua/*.lua, embedded at build time), run with EVALSHA and loaded
// again when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).
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

/// The start of a call's arguments on `c`: "EVALSHA", the script (send_script fills it in), and no
/// key, or the endpoint's slot key (a Redis Cluster routes the call by it). Append ARGV to it.
std::vector<std::string> script_call(const Connection& c);
/// Sends a call begun with script_call(c) without reading its reply (Connection::send), loading
/// the script first if this process has not (nothing may be in flight on `c` then).
Status send_script(Connection& c, ScriptId id, std::vector<std::string>& call);
/// The reply to the oldest call sent by send_script. An error reply from inside the script is an
/// ExecutionError naming the script; NOSCRIPT (the server lost its scripts: a restart or SCRIPT
/// FLUSH) is a retryable NetworkError, and the next send_script loads the script again.
Result<Reply> receive_script(Connection& c, ScriptId id);

}  // namespace am2z::redis
