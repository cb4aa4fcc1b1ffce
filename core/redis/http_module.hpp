#pragma once
// What the worker's HTTP server module (am2z_http.so, core/redis/http_module.cpp) offers the
// binary. The module holds the only code that uses cpp-httplib: Debian's libcpp-httplib links
// OpenSSL, brotli and zlib, and loading those cost every `am2z` command about 3 ms at start, so
// the binary loads the module only when a worker is asked for --metrics. Both sides are built
// together by one compiler: C++ types cross the boundary.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace am2z::redis {

struct HttpReply {
  int status = 200;
  std::string content_type;
  std::string body;
};

/// A GET route: its path and what answers it (called on the server's threads).
struct HttpRoute {
  std::string path;
  std::function<HttpReply()> answer;
};

struct HttpServeSpec {
  std::string host;
  int port = 0;  ///< 0: a free port
  std::size_t threads = 2;
  std::vector<HttpRoute> routes;
};

struct HttpModuleApi {
  /// Binds and starts serving on a thread of its own; nullptr when it cannot bind. `*bound_port`
  /// is the port listened on.
  void* (*start)(const HttpServeSpec& spec, int* bound_port);
  /// Stops serving and frees what start returned.
  void (*stop)(void* server);
};

/// The module's one exported symbol: `extern "C" const HttpModuleApi* am2z_http_module()`.
inline constexpr const char* kHttpModuleEntry = "am2z_http_module";
/// Its file, looked for next to the binary (a build tree), then in ../lib/am2z (an install).
inline constexpr const char* kHttpModuleFile = "am2z_http.so";

}  // namespace am2z::redis
