#include "core/redis/scripts.hpp"

#include <chrono>
#include <thread>

#include <array>
#include <mutex>

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
};

const Known& known(ScriptId id) {
  static const std::array<Known, 4> table{{
      {"step", lua::step},
      {"stalled", lua::stalled},
      {"extend_locks", lua::extend_locks},
      {"session_jobs", lua::session_jobs},
  }};
  return table[static_cast<std::size_t>(id)];
}

/// SHA1s as the server reported them: the same on every server, so one process-wide cache.
std::mutex sha_mutex;
std::array<std::string, 4> shas;

Result<std::string> load(Connection& c, ScriptId id) {
  auto r = c.command({"SCRIPT", "LOAD", known(id).source});
  if (!r) return fail(std::move(r.error()));
  if (r->type != Reply::Type::string) {
    return fail(errors::execution(std::string("redis script ") + known(id).name, "SCRIPT LOAD failed: " + r->str));
  }
  std::lock_guard lock(sha_mutex);
  shas[static_cast<std::size_t>(id)] = r->str;
  return r->str;
}

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
    if (r->is_error() && r->str.starts_with("NOSCRIPT") && reloads < 3) {
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
  call[1] = std::move(*sha);
  return c.send(call);
}

Result<Reply> receive_script(Connection& c, ScriptId id) {
  auto r = c.receive();
  if (!r) return r;
  if (r->is_error() && r->str.starts_with("NOSCRIPT")) {
    {
      std::lock_guard lock(sha_mutex);
      shas[static_cast<std::size_t>(id)].clear();
    }
    Error e = errors::network(c.endpoint().display(), 0, "the server lost am2z's scripts (NOSCRIPT)");
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
