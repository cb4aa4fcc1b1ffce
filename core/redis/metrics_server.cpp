#include "core/redis/metrics_server.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "core/json.hpp"
#include "core/redis/http_module.hpp"

namespace am2z::redis {

namespace {

/// Scrapes are rare and quick: two threads serve them (httplib's default is one per core, at least 8).
constexpr std::size_t kServerThreads = 2;

Error bad_address(const std::string& text, const std::string& why) {
  Error e = errors::validation("--metrics", text, why);
  e.message = "--metrics: '" + text + "' is not an address to listen on: " + why +
              " (expected HOST:PORT, :PORT or PORT, e.g. :9464)";
  return e;
}

}  // namespace

std::string ListenAddress::url(int actual_port) const {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(actual_port);
}

Result<ListenAddress> parse_listen_address(const std::string& text) {
  if (text.empty()) return fail(bad_address(text, "it is empty"));
  const auto colon = text.rfind(':');
  ListenAddress a;
  std::string port = text;
  if (colon != std::string::npos) {
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // "[::1]:9464": an IPv6 host in brackets
    if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  }
  if (a.host.empty()) a.host = "0.0.0.0";
  int value = -1;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value < 0 || value > 65535) {
    return fail(bad_address(text, "the port must be a number from 0 to 65535"));
  }
  a.port = value;
  return a;
}

namespace {

/// The directory of the running binary ("" when /proc is not there).
std::string binary_dir() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return {};
  const std::string exe(path, static_cast<std::size_t>(n));
  return exe.substr(0, exe.rfind('/'));
}

/// The module, loaded once per process: AM2Z_HTTP_MODULE when set, else next to the binary (a
/// build tree), else in ../lib/am2z (an install).
Result<const HttpModuleApi*> http_module() {
  static std::once_flag once;
  static const HttpModuleApi* api = nullptr;
  static std::string tried;
  std::call_once(once, [] {
    std::vector<std::string> places;
    if (const char* env = std::getenv("AM2Z_HTTP_MODULE"); env != nullptr && *env != '\0') {
      places.emplace_back(env);
    } else if (const std::string dir = binary_dir(); !dir.empty()) {
      places.push_back(dir + "/" + kHttpModuleFile);
      places.push_back(dir + "/../lib/am2z/" + kHttpModuleFile);
    }
    for (const auto& place : places) {
      void* lib = dlopen(place.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept for the life of the process
      if (lib == nullptr) {
        tried += (tried.empty() ? "" : "; ") + std::string(dlerror());
        continue;
      }
      using Entry = const HttpModuleApi* (*)();
      auto entry = reinterpret_cast<Entry>(dlsym(lib, kHttpModuleEntry));
      if (entry == nullptr) {
        tried += (tried.empty() ? "" : "; ") + place + ": no " + kHttpModuleEntry;
        continue;
      }
      api = entry();
      return;
    }
  });
  if (api != nullptr) return api;
  Error e = errors::configuration("--metrics", "the HTTP server module is missing");
  // appended piece by piece: g++ 12 warns (-Warray-bounds, falsely) on a chain of + here
  e.message = "--metrics needs am2z's HTTP server module ";
  e.message += kHttpModuleFile;
  e.message += ", installed with am2z; it could not be loaded: ";
  e.message += tried.empty() ? std::string("no place to look") : tried;
  return fail(std::move(e));
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const ListenAddress& where,
                                                            std::shared_ptr<const WorkerMetrics> metrics) {
  auto api = http_module();
  if (!api) return fail(std::move(api.error()));
  HttpServeSpec spec;
  spec.host = where.host;
  spec.port = where.port;
  spec.threads = kServerThreads;
  spec.routes.push_back({"/metrics", [metrics] {
                           return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", metrics->prometheus_text()};
                         }});
  spec.routes.push_back({"/healthz", [metrics] {
                           const WorkerHealth h = metrics->health();
                           Json body{{"status", h.redis_ok ? "ok" : "unhealthy"},
                                     {"redis", h.redis_ok ? "ok" : "unreachable"},
                                     {"lastRedisOk", h.last_redis_ok_ms},
                                     {"active", h.active}};
                           if (!h.last_redis_error.empty()) body["failedCall"] = h.last_redis_error;
                           return HttpReply{h.redis_ok ? 200 : 503, "application/json", body.dump() + "\n"};
                         }});
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->api_ = *api;
  s->server_ = s->api_->start(spec, &s->port_);
  if (s->server_ == nullptr) {
    Error e = errors::configuration("--metrics", "cannot listen");
    e.message = "cannot listen on " + where.url(where.port).substr(7) +
                " for --metrics (address in use, not this machine's, or a privileged port)";
    return fail(std::move(e));
  }
  return s;
}

MetricsServer::~MetricsServer() {
  if (server_ != nullptr) api_->stop(server_);
}

}  // namespace am2z::redis
