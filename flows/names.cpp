#include "flows/names.hpp"

#include <cctype>

namespace am2z {

namespace {
constexpr std::size_t kMaxName = 128;

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-'; }
}  // namespace

std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty()) return "a name must not be empty";
  if (name.size() > kMaxName) return "name '" + std::string(name.substr(0, 20)) + "...' is longer than 128 characters";
  if (std::isalnum(static_cast<unsigned char>(name.front())) == 0) {
    return "name '" + std::string(name) + "' must start with a letter or digit";
  }
  for (const char c : name) {
    if (!name_char(c)) {
      return "name '" + std::string(name) + "' may only contain letters, digits, '.', '_' and '-' (found '" +
             std::string(1, c) + "')";
    }
  }
  return std::nullopt;
}

}  // namespace am2z
