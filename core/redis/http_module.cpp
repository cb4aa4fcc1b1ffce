// am2z_http.so: the HTTP server behind `am2z worker --metrics` (see http_module.hpp for why it is
// a module of its own). Debian's cpp-httplib: a kept HTTP server, not our own.
#include "core/redis/http_module.hpp"

#include <httplib.h>

#include <chrono>
#include <thread>

namespace {

using am2z::redis::HttpModuleApi;
using am2z::redis::HttpServeSpec;

struct Served {
  httplib::Server http;
  std::thread thread;
};

void* start(const HttpServeSpec& spec, int* bound_port) {
  auto s = std::make_unique<Served>();
  const std::size_t threads = spec.threads;
  s->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  for (const auto& route : spec.routes) {
    s->http.Get(route.path, [answer = route.answer](const httplib::Request&, httplib::Response& res) {
      auto reply = answer();
      res.status = reply.status;
      res.set_content(std::move(reply.body), reply.content_type);
    });
  }
  int port = spec.port;
  const bool bound = port == 0 ? (port = s->http.bind_to_any_port(spec.host)) > 0 : s->http.bind_to_port(spec.host, port);
  if (!bound) return nullptr;
  *bound_port = port;
  httplib::Server* http = &s->http;
  s->thread = std::thread([http] { http->listen_after_bind(); });
  return s.release();
}

void stop(void* server) {
  std::unique_ptr<Served> s(static_cast<Served*>(server));
  // stop() does nothing to a server that has not begun listening: give the thread a moment.
  for (int i = 0; i < 1000 && !s->http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s->http.stop();
  if (s->thread.joinable()) s->thread.join();
}

const HttpModuleApi kApi{&start, &stop};

}  // namespace

extern "C" __attribute__((visibility("default"))) const HttpModuleApi* am2z_http_module() { return &kApi; }
