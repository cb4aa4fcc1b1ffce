#include "plugins/exec_params.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <utility>

#include "core/units.hpp"
#include "plugins/params.hpp"

namespace am2z {

namespace {

/// Reads {path: ".a.b"}; any other object is an error naming `field`.
Result<ExecValue> read_path_value(const Json& value, const std::string& field) {
  if (value.size() != 1 || !value.contains("path")) {
    return fail(errors::validation(field, value, "must be a string or {path: .a.b} to take a value from the state"));
  }
  auto text = params::as_string(value["path"], field + ".path", /*non_empty=*/true);
  if (!text) return fail(text.error());
  auto path = JsonPath::parse(text->front() == '.' ? *text : "." + *text);
  if (!path) return fail(errors::validation(field + ".path", value["path"], params::reason_of(path.error())));
  return ExecValue{{}, std::move(*path)};
}

}  // namespace

Result<ExecValue> read_exec_value(const Json& value, const std::string& field) {
  if (value.is_string()) return ExecValue{value.get<std::string>(), std::nullopt};
  if (value.is_object()) return read_path_value(value, field);
  return fail(errors::validation(field, value, "must be a string or {path: .a.b}"));
}

Result<std::string> ExecValue::resolve(const Json& data, std::string_view field) const {
  if (!path) return literal;
  const Json* found = path->find(data);
  if (found == nullptr) {
    return fail(errors::validation(std::string(field), path->text(), "path " + path->text() + " is not in the state"));
  }
  return found->is_string() ? found->get<std::string>() : found->dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<std::vector<ExecValue>> read_exec_argv(const Json& with) {
  const Json* argv = params::find(with, "argv");
  if (argv == nullptr) return fail(params::missing("argv"));
  if (!argv->is_array() || argv->empty()) {
    return fail(errors::validation("argv", *argv, "must be a non-empty list of strings"));
  }
  std::vector<ExecValue> out;
  for (std::size_t i = 0; i < argv->size(); ++i) {
    const std::string field = "argv[" + std::to_string(i) + "]";
    const Json& item = (*argv)[i];
    if (item.is_object() && i > 0) {
      auto value = read_path_value(item, field);
      if (!value) return fail(value.error());
      out.push_back(std::move(*value));
      continue;
    }
    auto arg = params::as_string(item, field, /*non_empty=*/i == 0);
    if (!arg) return fail(arg.error());
    out.push_back(ExecValue{std::move(*arg), std::nullopt});
  }
  return out;
}

Result<ExecEnv> read_exec_env(const Json& with) {
  ExecEnv out;
  const Json* env = params::find(with, "env");
  if (env == nullptr) return out;
  if (!env->is_object()) return fail(errors::validation("env", *env, "must be a mapping of variable names to values"));
  for (const auto& [name, value] : env->items()) {
    std::string field = "env." + name;
    if (name.empty() || name.find('=') != std::string::npos) {
      return fail(errors::validation(field, name, "is not a valid variable name"));
    }
    // YAML reads `PORT: 8080` as a number; a variable is text either way.
    if (value.is_string()) {
      out.emplace_back(name, ExecValue{value.get<std::string>(), std::nullopt});
    } else if (value.is_number() || value.is_boolean()) {
      out.emplace_back(name, ExecValue{value.dump(), std::nullopt});
    } else if (value.is_object()) {
      auto v = read_path_value(value, field);
      if (!v) return fail(v.error());
      out.emplace_back(name, std::move(*v));
    } else {
      return fail(errors::validation(field, value, "must be a string or {path: .a.b}"));
    }
  }
  return out;
}

Json state_value_schema() {
  return Json{{"type", "object"},
              {"properties", {{"path", {{"type", "string"}, {"description", "path in the state, e.g. .order.id"}}}}},
              {"required", Json::array({"path"})},
              {"additionalProperties", false}};
}

Result<std::size_t> read_byte_size(const Json& value, const std::string& field) {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() ? value.get<std::uint64_t>() < 1 : value.get<long long>() < 1) {
      return fail(errors::validation(field, value, "must be at least 1 byte"));
    }
    return static_cast<std::size_t>(value.get<std::uint64_t>());
  }
  const std::string bad = "must be a size such as 64MiB, 512KiB, 100MB or a number of bytes";
  if (!value.is_string()) return fail(errors::validation(field, value, bad));
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty() || text.front() == ' ' || text.back() == ' ') return fail(errors::validation(field, value, bad));
  auto size = parse_size(text);
  if (!size) {
    const bool too_large = size.error().message.find("too large") != std::string::npos;
    return fail(errors::validation(field, value, too_large ? "is too large" : bad));
  }
  if (*size == 0) return fail(errors::validation(field, value, "must be at least 1 byte"));
  return *size;
}

std::string byte_size_text(std::size_t bytes) {
  constexpr std::array<std::pair<std::size_t, const char*>, 3> kUnits{
      {{1ull << 30, " GiB"}, {1ull << 20, " MiB"}, {1ull << 10, " KiB"}}};
  for (const auto& [factor, name] : kUnits) {
    if (bytes >= factor && bytes % factor == 0) return std::to_string(bytes / factor) + name;
  }
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

Json byte_size_schema(std::string_view description) {
  return Json{{"type", Json::array({"string", "integer"})},
              {"minimum", 1},
              {"description", std::string(description) + " (e.g. 64MiB, 512KiB, 100MB; an integer means bytes)"}};
}

}  // namespace am2z
