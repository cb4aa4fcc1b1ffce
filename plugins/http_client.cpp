#include "plugins/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "plugins/curl_api.hpp"

namespace am2z {

namespace {

struct Transfer {
  const HttpRequest& request;
  const CancelToken* cancel;
  HttpResponse response;
  bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (t.response.body.size() + n > t.request.max_response) {
    t.too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  t.response.body.append(data, n);
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  std::string line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.starts_with("HTTP/")) {
    t.response.headers.clear();  // a new response (after a redirect or a 100 Continue)
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::size_t start = line.find_first_not_of(" \t", colon + 1);
  t.response.headers.emplace_back(std::move(name), start == std::string::npos ? "" : line.substr(start));
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto& t = *static_cast<Transfer*>(user);
  return t.cancel != nullptr && t.cancel->cancelled() ? 1 : 0;  // non-zero aborts the transfer
}

struct EasyDeleter {
  const CurlApi* api;
  void operator()(CURL* c) const { api->easy_cleanup(c); }
};
struct ListDeleter {
  const CurlApi* api;
  void operator()(curl_slist* l) const { api->slist_free_all(l); }
};

}  // namespace

std::string url_encode(const std::string& text) {
  // RFC 3986: unreserved characters stay, every other byte becomes %XX.
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out += {'%', kHex[ch >> 4], kHex[ch & 15]};
    }
  }
  return out;
}

std::expected<HttpResponse, HttpError> http_perform(const HttpRequest& request, Deadline deadline,
                                                    const CancelToken* cancel) {
  std::string why;
  const CurlApi* api = curl_api(why);
  if (api == nullptr) return std::unexpected(HttpError{HttpFailure::bad_request, why});
  Millis budget = request.timeout;
  bool deadline_binds = false;
  if (deadline != kNoDeadline) {
    const auto left = std::chrono::ceil<Millis>(deadline - SteadyClock::now());
    if (left.count() <= 0) return std::unexpected(HttpError{HttpFailure::deadline, "no time left before the deadline"});
    if (left < budget) {
      budget = left;
      deadline_binds = true;
    }
  }
  std::unique_ptr<CURL, EasyDeleter> curl(api->easy_init(), EasyDeleter{api});
  if (!curl) return std::unexpected(HttpError{HttpFailure::connection, "curl_easy_init failed"});
  Transfer transfer{request, cancel, {}, false};
  std::unique_ptr<curl_slist, ListDeleter> headers(nullptr, ListDeleter{api});
  for (const auto& [name, value] : request.headers) {
    headers.reset(api->slist_append(headers.release(), (name + ": " + value).c_str()));
  }
  CURL* c = curl.get();
  api->easy_setopt(c, CURLOPT_URL, request.url.c_str());
  api->easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "HEAD") api->easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (request.body) {
    api->easy_setopt(c, CURLOPT_POSTFIELDS, request.body->data());
    api->easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body->size()));
  }
  api->easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  api->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a multi-threaded process
  api->easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<long long>(1, budget.count())));
  api->easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  if (!request.ca_file.empty()) api->easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
  api->easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  api->easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  api->easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  api->easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  api->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  api->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  api->easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);

  const CURLcode rc = api->easy_perform(c);
  if (rc != CURLE_OK) {
    std::string message = api->easy_strerror(rc);
    if (rc == CURLE_ABORTED_BY_CALLBACK) return std::unexpected(HttpError{HttpFailure::cancelled, message});
    if (transfer.too_large) return std::unexpected(HttpError{HttpFailure::too_large, message});
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return std::unexpected(HttpError{deadline_binds ? HttpFailure::deadline : HttpFailure::timed_out, message});
    }
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
      return std::unexpected(HttpError{HttpFailure::bad_request, message});
    }
    return std::unexpected(HttpError{HttpFailure::connection, message});
  }
  api->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &transfer.response.status);
  return std::move(transfer.response);
}

}  // namespace am2z
