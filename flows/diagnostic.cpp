#include "flows/diagnostic.hpp"

namespace am2z {

std::string Diagnostic::to_string() const {
  std::string out = file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

Json Diagnostic::to_json() const {
  return Json{{"file", file}, {"line", line},       {"column", column},
              {"path", path}, {"message", message}, {"severity", severity}};
}

}  // namespace am2z
