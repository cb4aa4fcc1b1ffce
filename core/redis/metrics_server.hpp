#pragma once
// `am2z worker --metrics ADDR`: a small HTTP server (cpp-httplib, Debian's libcpp-httplib, in the
// module am2z_http.so loaded on first use: see http_module.hpp) that serves a worker's metrics at
// /metrics in Prometheus's text format and its health at /healthz.
#include <memory>
#include <string>

#include "core/redis/worker_metrics.hpp"
#include "core/result.hpp"

namespace am2z::redis {

/// Where to listen: "HOST:PORT", ":PORT" (every interface) or "PORT" (the same); port 0 picks a
/// free one. A ValidationError naming the address when it is none of these.
struct ListenAddress {
  std::string host;
  int port = 0;
  /// http://HOST:PORT, with an IPv6 host in brackets.
  std::string url(int actual_port) const;
};
Result<ListenAddress> parse_listen_address(const std::string& text);

struct HttpModuleApi;

class MetricsServer {
 public:
  /// Binds at once (a ConfigurationError naming the address when it cannot, or naming the places
  /// looked in when the module is missing) and serves on a thread of its own until destroyed.
  static Result<std::unique_ptr<MetricsServer>> start(const ListenAddress& where,
                                                      std::shared_ptr<const WorkerMetrics> metrics);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// The port it listens on (the one picked, for port 0).
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  const HttpModuleApi* api_ = nullptr;
  void* server_ = nullptr;
  int port_ = 0;
};

}  // namespace am2z::redis
