#include "core/redis/scripts.hpp"

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

}  // namespace

Result<Reply> run_script(Connection& c, ScriptId id, const std::vector<std::string>& args) {
  std::string sha;
  {
    std::lock_guard lock(sha_mutex);
    sha = shas[static_cast<std::size_t>(id)];
  }
  if (sha.empty()) {
    auto loaded = load(c, id);
    if (!loaded) return fail(std::move(loaded.error()));
    sha = *loaded;
  }
  std::vector<std::string> argv;
  argv.reserve(args.size() + 3);
  argv.emplace_back("EVALSHA");
  argv.push_back(sha);
  argv.emplace_back("0");
  argv.insert(argv.end(), args.begin(), args.end());
  for (int attempt = 0;; ++attempt) {
    auto r = c.command(argv);
    if (!r) return r;
    if (r->is_error() && r->str.starts_with("NOSCRIPT") && attempt == 0) {
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

}  // namespace am2z::redis
