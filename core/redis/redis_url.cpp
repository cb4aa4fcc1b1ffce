#include "core/redis/redis_url.hpp"

#include <charconv>
#include <cstdlib>

namespace am2z::redis {

namespace {

Error bad_url(const std::string& url, const std::string& why) {
  Error e = errors::configuration("redis", why);
  e.message = "invalid Redis URL '" + url + "': " + why;
  return e;
}

Result<int> parse_int(std::string_view text, int lo, int hi) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    return fail(errors::configuration("redis", "not a number in range"));
  }
  return value;
}

/// %XX escapes in user names and passwords (a password may contain '@' or ':').
std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && end == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::string Endpoint::display() const {
  std::string who = user.empty() ? "" : user + "@";
  if (!unix_path.empty()) return "unix://" + who + unix_path + (db != 0 ? "?db=" + std::to_string(db) : "");
  return "redis://" + who + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

Result<Endpoint> parse_url(const std::string& url) {
  Endpoint ep;
  std::string_view rest(url);
  if (rest.starts_with("unix://")) {
    rest.remove_prefix(7);
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      rest = rest.substr(0, q);
      for (std::size_t start = 0; start <= query.size();) {
        std::size_t amp = query.find('&', start);
        std::string_view kv = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        if (kv.starts_with("db=")) {
          auto db = parse_int(kv.substr(3), 0, 1 << 20);
          if (!db) return fail(bad_url(url, "db must be a number"));
          ep.db = *db;
        } else if (kv.starts_with("password=")) {
          ep.password = percent_decode(kv.substr(9));
        } else if (kv.starts_with("user=")) {
          ep.user = percent_decode(kv.substr(5));
        } else if (!kv.empty()) {
          return fail(bad_url(url, "unknown parameter '" + std::string(kv) + "' (db, user, password)"));
        }
        if (amp == std::string_view::npos) break;
        start = amp + 1;
      }
    }
    if (rest.empty() || rest.front() != '/') return fail(bad_url(url, "a unix socket URL needs an absolute path"));
    ep.unix_path = std::string(rest);
    return ep;
  }
  if (rest.starts_with("redis://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("rediss://")) {
    return fail(bad_url(url, "TLS (rediss://) is not supported; use a TLS tunnel or a Unix socket"));
  } else {
    return fail(bad_url(url, "it must start with redis:// or unix://"));
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto colon = cred.find(':'); colon != std::string_view::npos) {
      ep.user = percent_decode(cred.substr(0, colon));
      ep.password = percent_decode(cred.substr(colon + 1));
    } else {
      ep.password = percent_decode(cred);  // redis://secret@host: a password alone
    }
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      auto n = parse_int(db, 0, 1 << 20);
      if (!n) return fail(bad_url(url, "the database must be a number, found '" + std::string(db) + "'"));
      ep.db = *n;
    }
  }
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    auto port = parse_int(rest.substr(colon + 1), 1, 65535);
    if (!port)
      return fail(bad_url(url, "the port must be 1-65535, found '" + std::string(rest.substr(colon + 1)) + "'"));
    ep.port = *port;
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) ep.host = std::string(rest);
  return ep;
}

Result<Endpoint> endpoint_from_env() {
  if (const char* url = std::getenv("REDIS_URL"); url != nullptr && *url != '\0') return parse_url(url);
  Endpoint ep;
  if (const char* host = std::getenv("REDIS_HOST"); host != nullptr && *host != '\0') ep.host = host;
  if (const char* port = std::getenv("REDIS_PORT"); port != nullptr && *port != '\0') {
    auto p = parse_int(port, 1, 65535);
    if (!p) return fail(errors::configuration("REDIS_PORT", std::string("must be 1-65535, found '") + port + "'"));
    ep.port = *p;
  }
  if (const char* pw = std::getenv("REDIS_PASSWORD"); pw != nullptr) ep.password = pw;
  if (const char* db = std::getenv("REDIS_DB"); db != nullptr && *db != '\0') {
    auto d = parse_int(db, 0, 1 << 20);
    if (!d) return fail(errors::configuration("REDIS_DB", std::string("must be a number, found '") + db + "'"));
    ep.db = *d;
  }
  return ep;
}

}  // namespace am2z::redis
