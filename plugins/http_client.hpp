#pragma once
// One HTTP request through libcurl (TLS by OpenSSL), bounded by a deadline and a cancel token.
#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cancel.hpp"

namespace am2z {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::optional<std::string> body;
  Millis timeout{30'000};  ///< for the whole request; the deadline may cut it shorter
  bool follow_redirects = false;
  std::string ca_file;                   ///< PEM bundle of trusted CAs; empty: the system's
  std::size_t max_response = 64u << 20;  ///< response body bytes beyond which the request is abandoned
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;  ///< of the final response, names in lower case
  std::string body;
};

/// Why no response arrived.
enum class HttpFailure { cancelled, deadline, timed_out, too_large, connection, bad_request };

struct HttpError {
  HttpFailure kind = HttpFailure::connection;
  std::string message;  ///< curl's description, e.g. "Couldn't connect to server"
};

/// Performs the request; blocks the calling thread. `deadline` passing gives HttpFailure::deadline,
/// the request's own timeout HttpFailure::timed_out; the token firing aborts the transfer.
std::expected<HttpResponse, HttpError> http_perform(const HttpRequest& request, Deadline deadline,
                                                    const CancelToken* cancel);

/// Percent-encodes `text` for use inside a URL.
std::string url_encode(const std::string& text);

}  // namespace am2z
