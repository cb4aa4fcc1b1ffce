#include "core/redis/metrics_server.hpp"

#include <httplib.h>

#include <charconv>

#include "core/json.hpp"

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

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const ListenAddress& where,
                                                            std::shared_ptr<const WorkerMetrics> metrics) {
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->server_ = std::make_unique<httplib::Server>();
  httplib::Server& http = *s->server_;
  http.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  http.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics->prometheus_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/healthz", [metrics](const httplib::Request&, httplib::Response& res) {
    const WorkerHealth h = metrics->health();
    Json body{{"status", h.redis_ok ? "ok" : "unhealthy"},
              {"redis", h.redis_ok ? "ok" : "unreachable"},
              {"lastRedisOk", h.last_redis_ok_ms},
              {"active", h.active}};
    if (!h.last_redis_error.empty()) body["failedCall"] = h.last_redis_error;
    res.status = h.redis_ok ? 200 : 503;
    res.set_content(body.dump() + "\n", "application/json");
  });
  const bool bound = where.port == 0 ? (s->port_ = http.bind_to_any_port(where.host)) > 0
                                     : http.bind_to_port(where.host, where.port);
  if (!bound) {
    Error e = errors::configuration("--metrics", "cannot listen");
    e.message = "cannot listen on " + where.url(where.port).substr(7) +
                " for --metrics (address in use, not this machine's, or a privileged port)";
    return fail(std::move(e));
  }
  if (where.port != 0) s->port_ = where.port;
  s->thread_ = std::thread([&http] { http.listen_after_bind(); });
  return s;
}

MetricsServer::~MetricsServer() {
  // stop() does nothing to a server that has not begun listening: give the thread a moment.
  for (int i = 0; i < 1000 && server_ && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace am2z::redis
