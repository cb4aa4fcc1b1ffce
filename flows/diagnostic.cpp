#include "flows/diagnostic.hpp"

namespace am2z {

std::string Diagnostic::to_string() const {
  // A problem with the file as a whole (it cannot be read) has no position to show.
  std::string out = line == 0 ? file + ": " : file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

Json Diagnostic::to_json() const {
  return Json{{"file", file}, {"line", line},       {"column", column},
              {"path", path}, {"message", message}, {"severity", severity}};
}

}  // namespace am2z
