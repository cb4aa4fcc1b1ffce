#include "flows/field.hpp"

#include <algorithm>

namespace am2z {

Field Field::child(const YAML::Node& child_key, const YAML::Node& child_value, std::string_view name) const {
  return Field{child_key, child_value, join_path(path, name)};
}

Field Field::item(const YAML::Node& item_value, std::size_t index) const {
  return Field{YAML::Node(), item_value, path + "[" + std::to_string(index) + "]"};
}

std::string join_path(std::string_view base, std::string_view name) {
  if (base.empty()) return std::string(name);
  std::string out(base);
  out += '.';
  out += name;
  return out;
}

YAML::Mark mark_of(const Field& field) {
  const bool point_at_value = field.value.IsDefined() && field.value.IsScalar();
  if (!point_at_value && !field.key.Mark().is_null()) return field.key.Mark();
  return field.value.IsDefined() ? field.value.Mark() : YAML::Mark::null_mark();
}

void Reporter::error(const Field& field, std::string message) {
  error_at(mark_of(field), field.path, std::move(message));
}

void Reporter::error_at(const YAML::Mark& mark, std::string path, std::string message) {
  // yaml-cpp counts from 0; editors and compilers count from 1.
  const int line = mark.is_null() ? 1 : mark.line + 1;
  const int column = mark.is_null() ? 1 : mark.column + 1;
  diagnostics_.push_back(Diagnostic{file_, line, column, std::move(path), std::move(message)});
}

void Reporter::file_error(std::string message) {
  diagnostics_.push_back(Diagnostic{file_, 0, 0, "", std::move(message)});
}

std::string Reporter::switch_file(std::string file) {
  if (std::find(files_.begin(), files_.end(), file) == files_.end()) files_.push_back(file);
  std::swap(file, file_);
  return file;
}

std::vector<Diagnostic> Reporter::take() {
  auto rank = [this](const std::string& file) {
    return std::find(files_.begin(), files_.end(), file) - files_.begin();
  };
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [&](const Diagnostic& a, const Diagnostic& b) {
    if (a.file != b.file) return rank(a.file) < rank(b.file);
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  return std::move(diagnostics_);
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  // yaml-cpp tags quoted scalars "!"; plain ones "?".
  if (node.Tag() == "!") return "the quoted string '" + node.Scalar() + "'";
  return "'" + node.Scalar() + "'";
}

}  // namespace am2z
