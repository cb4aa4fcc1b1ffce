#include "core/redis/scripts.hpp"

#include <array>
#include <chrono>
#include <mutex>
#include <thread>

#include "core/redis/sha256.hpp"

namespace am2z::redis {

namespace lua {
extern const char* const step;
extern const char* const stalled;
extern const char* const extend_locks;
extern const char* const session_jobs;
}  // namespace lua

namespace {

struct Known {
  const char* name;
  const char* source;
  bool function;  ///< a Redis Functions library (FUNCTION LOAD, FCALL), not a script (EVALSHA)
};

const Known& known(ScriptId id) {
  static const std::array<Known, 4> table{{
      {"step", lua::step, true},
      {"stalled", lua::stalled, false},
      {"extend_locks", lua::extend_locks, false},
      {"session_jobs", lua::session_jobs, false},
  }};
  return table[static_cast<std::size_t>(id)];
}

/// What calls name a script by: SHA1s as the server reported them, or a library's function name
/// once loaded; the same on every server, so one process-wide cache (emptied when a server says
/// it lost them).
std::mutex sha_mutex;
std::array<std::string, 4> shas;

/// A library's function: named after a hash of its text, so that workers of different versions
/// each call their own on one Redis.
struct Library {
  std::string function;
  std::string text;  ///< as FUNCTION LOAD takes it
};

/// The step function's library: the only one.
const Library& step_library() {
  static const Library step = [] {
    const std::string source = lua::step;
    Library l;
    l.function = "am2z_step_" + sha256_hex(source).substr(0, 16);
    // the chunk's last local is `step`: registered under the name the calls use
    l.text = "#!lua name=" + l.function + "\n" + source + "\nredis.register_function(\"" + l.function + "\", step)\n";
    return l;
  }();
  return step;
}

Result<std::string> load(Connection& c, ScriptId id) {
  const Known& k = known(id);
  std::string name;
  if (k.function) {
    const Library& l = step_library();
    auto r = c.command({"FUNCTION", "LOAD", l.text});
    if (!r) return fail(std::move(r.error()));
    // another process of this version loaded it first
    const bool there = r->is_error() && r->str.find("already exists") != std::string::npos;
    if (r->is_error() && !there) {
      const bool old = r->str.find("unknown command") != std::string::npos;
      return fail(
          errors::execution(std::string("redis script ") + k.name,
                            old ? "this Redis has no FUNCTION command: am2z needs Redis 7.0 or later (" + r->str + ")"
                                : "FUNCTION LOAD failed: " + r->str));
    }
    name = l.function;
  } else {
    auto r = c.command({"SCRIPT", "LOAD", k.source});
    if (!r) return fail(std::move(r.error()));
    if (r->type != Reply::Type::string) {
      return fail(errors::execution(std::string("redis script ") + k.name, "SCRIPT LOAD failed: " + r->str));
    }
    name = r->str;
  }
  std::lock_guard lock(sha_mutex);
  shas[static_cast<std::size_t>(id)] = name;
  return name;
}

/// The server no longer has the script or the library (a restart without persistence, SCRIPT
/// FLUSH, FUNCTION FLUSH): it is loaded again.
bool lost_script(const Reply& r) {
  return r.is_error() && (r.str.starts_with("NOSCRIPT") || r.str.find("Function not found") != std::string::npos);
}

const char* call_command(ScriptId id) { return known(id).function ? "FCALL" : "EVALSHA"; }

/// The script's SHA1, loading it on `c` first if this process has not yet.
Result<std::string> sha_of(Connection& c, ScriptId id) {
  {
    std::lock_guard lock(sha_mutex);
    if (const std::string& sha = shas[static_cast<std::size_t>(id)]; !sha.empty()) return sha;
  }
  return load(c, id);
}

}  // namespace

Result<Reply> run_script(Connection& c, ScriptId id, const std::vector<std::string>& args) {
  auto sha = sha_of(c, id);
  if (!sha) return fail(std::move(sha.error()));
  std::vector<std::string> argv = script_call(c);
  argv[0] = call_command(id);
  argv[1] = *sha;
  argv.insert(argv.end(), args.begin(), args.end());
  int migrating_waits = 0;
  int reloads = 0;
  for (;;) {
    auto r = c.command(argv);
    if (!r) return r;
    if (r->is_error() && (r->str.starts_with("ASK ") || r->str.starts_with("TRYAGAIN")) && migrating_waits < 50) {
      // A Redis Cluster slot being migrated: the script did not run; it runs once the move ends.
      ++migrating_waits;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (lost_script(*r) && reloads < 3) {
      // The server lost the script (a restart, SCRIPT FLUSH) or the connection followed MOVED to
      // a master that never had it (a slot moved while this call waited out the migration).
      ++reloads;
      auto loaded = load(c, id);
      if (!loaded) return fail(std::move(loaded.error()));
      argv[1] = *loaded;
      continue;
    }
    if (r->is_error()) {
      return fail(errors::execution(std::string("redis script ") + known(id).name, r->str));
    }
    return r;
  }
}

std::vector<std::string> script_call(const Connection& c) {
  const std::string& key = c.endpoint().slot_key;
  if (key.empty()) return {"EVALSHA", "", "0"};
  return {"EVALSHA", "", "1", key};
}

Status send_script(Connection& c, ScriptId id, std::vector<std::string>& call) {
  auto sha = sha_of(c, id);
  if (!sha) return fail(std::move(sha.error()));
  call[0] = call_command(id);
  call[1] = std::move(*sha);
  return c.send(call);
}

Result<Reply> receive_script(Connection& c, ScriptId id) {
  auto r = c.receive();
  if (!r) return r;
  if (lost_script(*r)) {
    {
      std::lock_guard lock(sha_mutex);
      shas[static_cast<std::size_t>(id)].clear();
    }
    Error e = errors::network(c.endpoint().display(), 0, "the server lost am2z's scripts (" + r->str + ")");
    e.retryable = true;
    return fail(std::move(e));
  }
  if (r->is_error() && is_transient_reply(r->str)) {
    // Loading after a restart, out of memory, a moved cluster slot: the call is sent again later.
    Error e = errors::network(c.endpoint().display(), 0, r->str);
    e.retryable = true;
    return fail(std::move(e));
  }
  if (r->is_error()) return fail(errors::execution(std::string("redis script ") + known(id).name, r->str));
  return r;
}

}  // namespace am2z::redis
