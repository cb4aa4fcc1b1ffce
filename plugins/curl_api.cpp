#include "plugins/curl_api.hpp"

#include <dlfcn.h>

#include <mutex>

namespace am2z {

namespace {

struct Loaded {
  CurlApi api{};
  bool ok = false;
  std::string why;
};

template <class Fn>
bool bind(void* lib, const char* name, Fn& out, std::string& why) {
  void* sym = dlsym(lib, name);
  if (sym == nullptr) {
    why = std::string("libcurl.so.4 has no ") + name;
    return false;
  }
  out = reinterpret_cast<Fn>(sym);
  return true;
}

Loaded load() {
  Loaded l;
  void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);  // kept for the life of the process
  if (lib == nullptr) {
    const char* err = dlerror();
    l.why = std::string("cannot load libcurl.so.4 (Debian package libcurl4): ") + (err != nullptr ? err : "");
    return l;
  }
  CurlApi& a = l.api;
  l.ok = bind(lib, "curl_global_init", a.global_init, l.why) && bind(lib, "curl_easy_init", a.easy_init, l.why) &&
         bind(lib, "curl_easy_cleanup", a.easy_cleanup, l.why) && bind(lib, "curl_easy_setopt", a.easy_setopt, l.why) &&
         bind(lib, "curl_easy_perform", a.easy_perform, l.why) &&
         bind(lib, "curl_easy_getinfo", a.easy_getinfo, l.why) &&
         bind(lib, "curl_easy_strerror", a.easy_strerror, l.why) &&
         bind(lib, "curl_slist_append", a.slist_append, l.why) &&
         bind(lib, "curl_slist_free_all", a.slist_free_all, l.why);
  if (l.ok) a.global_init(CURL_GLOBAL_DEFAULT);
  return l;
}

}  // namespace

const CurlApi* curl_api(std::string& why) {
  static const Loaded loaded = load();  // thread-safe once
  why = loaded.why;
  return loaded.ok ? &loaded.api : nullptr;
}

}  // namespace am2z
