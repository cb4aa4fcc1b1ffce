#include "core/processor.hpp"

namespace am2z {

void ProcessorRegistry::add(ProcessorType type) {
  std::string key = type.name;
  types_.insert_or_assign(std::move(key), std::move(type));
}

const ProcessorType* ProcessorRegistry::find(std::string_view name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> ProcessorRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(types_.size());
  for (const auto& [name, type] : types_) out.push_back(name);
  return out;
}

std::string ProcessorRegistry::names_joined() const {
  std::string out;
  for (const auto& [name, type] : types_) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace am2z
