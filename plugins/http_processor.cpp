#include "plugins/http_processor.hpp"

#include <array>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/json_limits.hpp"
#include "plugins/exec_params.hpp"
#include "plugins/http_client.hpp"
#include "plugins/params.hpp"

namespace am2z {

namespace {

constexpr std::array<std::string_view, 6> kMethods{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};

/// A URL with {.path} placeholders filled from the state, percent-encoded.
struct UrlTemplate {
  std::vector<ExecValue> parts;

  Result<std::string> render(const Json& data) const {
    std::string out;
    for (const auto& part : parts) {
      auto text = part.resolve(data, "url");
      if (!text) return fail(text.error());
      out += part.path ? url_encode(*text) : *text;
    }
    return out;
  }
};

Result<UrlTemplate> read_url(const Json& with) {
  const Json* v = params::find(with, "url");
  if (v == nullptr) return fail(params::missing("url"));
  auto text = params::as_string(*v, "url", /*non_empty=*/true);
  if (!text) return fail(text.error());
  UrlTemplate url;
  std::size_t pos = 0;
  while (pos < text->size()) {
    std::size_t open = text->find("{.", pos);
    if (open == std::string::npos) break;
    std::size_t close = text->find('}', open);
    if (close == std::string::npos) {
      return fail(errors::validation("url", *v, "has a '{.' without its closing '}'"));
    }
    url.parts.push_back(ExecValue{text->substr(pos, open - pos), std::nullopt});
    auto path = params::as_path(text->substr(open + 1, close - open - 1), "url", /*allow_root=*/false);
    if (!path) return fail(path.error());
    url.parts.push_back(ExecValue{{}, std::move(*path)});
    pos = close + 1;
  }
  url.parts.push_back(ExecValue{text->substr(pos), std::nullopt});
  return url;
}

struct HttpSpec {
  std::string method = "GET";
  UrlTemplate url;
  std::vector<std::pair<std::string, ExecValue>> headers;
  std::optional<Json> body;
  std::optional<JsonPath> body_from;
  JsonPath output = *JsonPath::parse(".response");
  Millis timeout{30'000};
  bool follow_redirects = false;
  std::string ca_file;
  std::set<long> accept_status;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// The body text and whether it is JSON (a string is sent as it is).
std::pair<std::string, bool> body_text(const Json& value) {
  if (value.is_string()) return {value.get<std::string>(), false};
  return {value.dump(-1, ' ', false, Json::error_handler_t::replace), true};
}

Json response_json(const HttpResponse& r) {
  Json headers = Json::object();
  bool is_json = false;
  for (const auto& [name, value] : r.headers) {
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = value;
    } else {
      *it = it->get<std::string>() + ", " + value;
    }
    if (name == "content-type" && lower(value).find("json") != std::string::npos) is_json = true;
  }
  // A body that is not JSON, or is past a limit (nesting, a number beyond a double), stays text.
  std::optional<Json> parsed;
  if (is_json) {
    if (auto j = parse_outside_json(r.body)) parsed = std::move(*j);
  }
  Json body = parsed ? std::move(*parsed)
                     : Json::parse(Json(r.body).dump(-1, ' ', false, Json::error_handler_t::replace));  // valid UTF-8
  return Json{{"status", r.status}, {"headers", std::move(headers)}, {"body", std::move(body)}};
}

class HttpProcessor final : public Processor {
 public:
  explicit HttpProcessor(HttpSpec spec) : spec_(std::move(spec)) {}

  Status process(State& state, Context& ctx) const override {
    HttpRequest request;
    request.method = spec_.method;
    auto url = spec_.url.render(state.data);
    if (!url) return fail(url.error());
    request.url = std::move(*url);
    request.timeout = spec_.timeout;
    request.follow_redirects = spec_.follow_redirects;
    request.ca_file = spec_.ca_file;
    bool has_content_type = false;
    for (const auto& [name, value] : spec_.headers) {
      auto text = value.resolve(state.data, "headers." + name);
      if (!text) return fail(text.error());
      has_content_type = has_content_type || lower(name) == "content-type";
      request.headers.emplace_back(name, std::move(*text));
    }
    const Json* body = spec_.body ? &*spec_.body : nullptr;
    if (spec_.body_from) {
      body = spec_.body_from->find(state.data);
      if (body == nullptr) {
        return fail(errors::validation("body_from", spec_.body_from->text(),
                                       "path " + spec_.body_from->text() + " is not in the state"));
      }
    }
    if (body != nullptr) {
      auto [text, is_json] = body_text(*body);
      request.body = std::move(text);
      if (is_json && !has_content_type) request.headers.emplace_back("Content-Type", "application/json");
    }

    const auto started = SteadyClock::now();
    auto response = http_perform(request, ctx.deadline(), &ctx.cancel_token());
    const std::string name(ctx.processor_name());
    if (!response) return fail(transfer_error(response.error(), ctx, started, request));
    const long status = response->status;
    if (status >= 400 && !spec_.accept_status.contains(status)) {
      Error e = errors::network(request.method + " " + request.url, static_cast<int>(status), "HTTP status");
      e.retryable = status >= 500 || status == 429;
      if (!e.retryable) e.code = "HTTP_CLIENT_ERROR";
      e.context["response"] = response_json(*response);
      return fail(std::move(e));
    }
    ctx.log().debug("{}: {} {} -> {}", name, request.method, request.url, status);
    Json data = state.data;
    if (auto ok = spec_.output.assign(data, response_json(*response)); !ok) return ok;
    state.data = std::move(data);
    return {};
  }

 private:
  Error transfer_error(const HttpError& e, const Context& ctx, SteadyClock::time_point started,
                       const HttpRequest& request) const {
    const std::string endpoint = request.method + " " + request.url;
    switch (e.kind) {
      case HttpFailure::cancelled:
        return errors::cancelled(ctx.cancel_token().reason());
      case HttpFailure::deadline:
        return errors::timeout(std::string(ctx.processor_name()),
                               std::chrono::ceil<Millis>(ctx.deadline() - started).count());
      case HttpFailure::too_large: {
        Error error = errors::resource(endpoint + " response body", static_cast<long long>(request.max_response),
                                       static_cast<long long>(request.max_response) + 1);
        error.retryable = false;
        return error;
      }
      case HttpFailure::bad_request: {
        Error error = errors::network(endpoint, 0, e.message);
        error.retryable = false;
        return error;
      }
      case HttpFailure::timed_out:
        return errors::network(endpoint, 0, e.message + " (timeout " + std::to_string(spec_.timeout.count()) + "ms)");
      case HttpFailure::connection:
        break;
    }
    return errors::network(endpoint, 0, e.message);
  }

  HttpSpec spec_;
};

Status read_body(const Json& with, HttpSpec& spec) {
  const Json* body = params::find(with, "body");
  const Json* from = params::find(with, "body_from");
  if (body != nullptr && from != nullptr) {
    return fail(errors::validation("body_from", *from, "give body (a literal) or body_from (a path), not both"));
  }
  if (body != nullptr) spec.body = *body;
  if (from != nullptr) {
    auto path = params::as_path(*from, "body_from", /*allow_root=*/true);
    if (!path) return fail(path.error());
    spec.body_from = std::move(*path);
  }
  return {};
}

Status read_options(const Json& with, HttpSpec& spec) {
  if (const Json* v = params::find(with, "method")) {
    auto m = params::as_choice(*v, "method", kMethods);
    if (!m) return fail(m.error());
    spec.method = *m;
  }
  if (const Json* v = params::find(with, "headers")) {
    if (!v->is_object()) return fail(errors::validation("headers", *v, "must be a mapping of header names to values"));
    for (const auto& [name, value] : v->items()) {
      auto text = read_exec_value(value, "headers." + name);
      if (!text) return fail(text.error());
      spec.headers.emplace_back(name, std::move(*text));
    }
  }
  if (const Json* v = params::find(with, "output")) {
    auto path = params::as_path(*v, "output", /*allow_root=*/false);
    if (!path) return fail(path.error());
    spec.output = std::move(*path);
  }
  if (const Json* v = params::find(with, "timeout")) {
    auto d = params::as_duration(*v, "timeout");
    if (!d) return fail(d.error());
    if (d->count() <= 0) return fail(errors::validation("timeout", *v, "must be greater than 0"));
    spec.timeout = *d;
  }
  if (const Json* v = params::find(with, "follow_redirects")) {
    if (!v->is_boolean()) return fail(errors::validation("follow_redirects", *v, "must be true or false"));
    spec.follow_redirects = v->get<bool>();
  }
  if (const Json* v = params::find(with, "ca_file")) {
    auto path = params::as_string(*v, "ca_file", /*non_empty=*/true);
    if (!path) return fail(path.error());
    spec.ca_file = std::move(*path);
  }
  if (const Json* v = params::find(with, "accept_status")) {
    if (!v->is_array()) return fail(errors::validation("accept_status", *v, "must be a list of status codes"));
    for (std::size_t i = 0; i < v->size(); ++i) {
      auto code = params::as_integer((*v)[i], "accept_status[" + std::to_string(i) + "]", 100);
      if (!code) return fail(code.error());
      spec.accept_status.insert(static_cast<long>(*code));
    }
  }
  return read_body(with, spec);
}

Result<std::unique_ptr<Processor>> create_http(const Json& with) {
  if (auto ok = params::check_keys(with, {"method", "url", "headers", "body", "body_from", "output", "timeout",
                                          "follow_redirects", "ca_file", "accept_status"});
      !ok)
    return fail(ok.error());
  HttpSpec spec;
  auto url = read_url(with);
  if (!url) return fail(url.error());
  spec.url = std::move(*url);
  if (auto ok = read_options(with, spec); !ok) return fail(ok.error());
  return std::make_unique<HttpProcessor>(std::move(spec));
}

Json http_schema() {
  Json methods = Json::array();
  for (auto m : kMethods) methods.push_back(m);
  const Json header_value = Json{{"anyOf", Json::array({Json{{"type", "string"}}, state_value_schema()})}};
  return Json{
      {"type", "object"},
      {"properties",
       {{"method", {{"enum", methods}, {"description", "default GET"}}},
        {"url",
         {{"type", "string"},
          {"minLength", 1},
          {"description", "http(s) URL; {.a.b} inserts a state value, percent-encoded"}}},
        {"headers",
         {{"type", "object"},
          {"additionalProperties", header_value},
          {"description", "request headers; {path: .a.b} takes a value from the state"}}},
        {"body", {{"description", "request body: a string is sent as is, anything else as JSON"}}},
        {"body_from", params::path_schema("send this state value as the body (JSON unless a string)")},
        {"output", params::path_schema("where {status, headers, body} goes; default .response")},
        {"timeout", params::duration_schema("limit for the request; default 30s; the step's timeout also applies")},
        {"follow_redirects", {{"type", "boolean"}, {"description", "follow 3xx redirects; default false"}}},
        {"ca_file",
         {{"type", "string"},
          {"minLength", 1},
          {"description", "PEM file of CA certificates to trust for https instead of the system's"}}},
        {"accept_status",
         {{"type", "array"},
          {"items", {{"type", "integer"}}},
          {"description", "statuses >= 400 that are not failures (e.g. [404])"}}}}},
      {"required", Json::array({"url"})},
      {"additionalProperties", false}};
}

}  // namespace

ProcessorType http_processor_type() {
  ProcessorType type;
  type.name = "http";
  type.description =
      "Sends an HTTP request (libcurl, TLS via OpenSSL) and stores {status, headers, body} in the state (body "
      "parsed when JSON); 5xx, 429 and connection errors are retryable NetworkErrors, other 4xx are not";
  type.params_schema = http_schema();
  type.create = create_http;
  return type;
}

}  // namespace am2z
