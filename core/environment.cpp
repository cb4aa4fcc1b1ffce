#include "core/environment.hpp"

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/units.hpp"

namespace am2z {

namespace {

std::optional<std::string_view> variable(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string_view(value);
}

}  // namespace

Result<std::optional<Millis>> env_default_timeout() {
  const auto text = variable("AM2Z_DEFAULT_TIMEOUT");
  if (!text) return std::optional<Millis>{};
  auto parsed = parse_duration(*text);
  if (!parsed) {
    return fail(errors::configuration("AM2Z_DEFAULT_TIMEOUT", parsed.error().context.value("reason", parsed.error().message)));
  }
  if (parsed->count() <= 0) {
    return fail(errors::configuration("AM2Z_DEFAULT_TIMEOUT", "a timeout must be greater than 0, found '" +
                                                                  std::string(*text) + "'"));
  }
  return std::optional<Millis>{*parsed};
}

Result<std::optional<int>> env_max_call_depth() {
  const auto text = variable("AM2Z_MAX_CALL_DEPTH");
  if (!text) return std::optional<int>{};
  int depth = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), depth);
  if (ec != std::errc() || end != text->data() + text->size() || depth < 1) {
    return fail(errors::configuration("AM2Z_MAX_CALL_DEPTH",
                                      "expected an integer >= 1, found '" + std::string(*text) + "'"));
  }
  return std::optional<int>{depth};
}

}  // namespace am2z
