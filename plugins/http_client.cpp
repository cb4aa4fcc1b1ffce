#include "plugins/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace am2z {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

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
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string url_encode(const std::string& text) {
  global_init();
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  char* escaped = curl_easy_escape(curl.get(), text.data(), static_cast<int>(text.size()));
  std::string out = escaped != nullptr ? escaped : "";
  curl_free(escaped);
  return out;
}

std::expected<HttpResponse, HttpError> http_perform(const HttpRequest& request, Deadline deadline,
                                                    const CancelToken* cancel) {
  global_init();
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
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) return std::unexpected(HttpError{HttpFailure::connection, "curl_easy_init failed"});
  Transfer transfer{request, cancel, {}, false};
  std::unique_ptr<curl_slist, ListDeleter> headers;
  for (const auto& [name, value] : request.headers) {
    headers.reset(curl_slist_append(headers.release(), (name + ": " + value).c_str()));
  }
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (request.body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body->size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a multi-threaded process
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<long long>(1, budget.count())));
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  if (!request.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string message = curl_easy_strerror(rc);
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
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &transfer.response.status);
  return std::move(transfer.response);
}

}  // namespace am2z
