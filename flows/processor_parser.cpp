#include "flows/processor_parser.hpp"

#include <exception>
#include <limits>

#include "flows/flow_format.hpp"
#include "flows/params_validation.hpp"
#include "flows/suggest.hpp"
#include "flows/yaml_json.hpp"

namespace am2z {

namespace {

/// Where a `with:` parameter sits, for pointing at factory errors.
struct WithSite {
  std::string path;  ///< "processors.validate.with"
  YAML::Mark mark;   ///< of `with:` itself (or of the processor when there is no `with:`)
  MarkIndex marks;   ///< sub-path -> mark
};

/// "values.x" -> "values", "argv[1]" -> "argv", "argv" -> "".
std::string parent_subpath(std::string_view sub) {
  const auto cut = sub.find_last_of(".[");
  return cut == std::string_view::npos ? std::string() : std::string(sub.substr(0, cut));
}

/// Flows are run from anywhere: the directory a processor type works in (its declared
/// flow_dir_param) is relative to the flow file, like includes.
void apply_base_dir(const ProcessorType& type, const std::string& base_dir, Json& with) {
  if (base_dir.empty() || type.flow_dir_param.empty() || !with.is_object()) return;
  auto it = with.find(type.flow_dir_param);
  if (it == with.end()) {
    with[type.flow_dir_param] = base_dir;
  } else if (it->is_string() && !it->get_ref<const std::string&>().empty() &&
             it->get_ref<const std::string&>()[0] != '/') {
    *it = base_dir + "/" + it->get<std::string>();
  }
}

/// Reports `message` about the `with:` value at sub-path `field` ("argv[1]"; "" for `with:` itself),
/// at the nearest enclosing value that was written: a missing "argv[5]" points at "argv".
void report_with_error(Reporter& reporter, const WithSite& site, const std::string& field, std::string message) {
  std::string path = site.path;
  if (!field.empty()) path += (field.front() == '[' ? "" : ".") + field;
  YAML::Mark mark = site.mark;
  for (std::string sub = field;; sub = parent_subpath(sub)) {
    if (auto it = site.marks.find(sub); it != site.marks.end() && !it->second.is_null()) {
      mark = it->second;
      break;
    }
    if (sub.empty()) break;
  }
  reporter.error_at(mark, std::move(path), std::move(message));
}

/// Reports a factory failure at the `with:` value it names in context.field, if it can be found.
void report_create_error(Reporter& reporter, const WithSite& site, const Error& error) {
  std::string field;
  if (auto it = error.context.find("field"); it != error.context.end() && it->is_string()) {
    field = it->get<std::string>();
  }
  report_with_error(reporter, site, field, error.message);
}

/// Checks `with:` against the type's params_schema; false after reporting violations.
bool params_match_schema(Reporter& reporter, const WithSite& site, const ProcessorType& type, const Json& with,
                         const Field& use) {
  auto violations = check_params(type, with);
  if (!violations) {
    reporter.error(use, violations.error().message);
    return false;
  }
  for (const auto& v : *violations) report_with_error(reporter, site, v.field(), v.message);
  return violations->empty();
}

std::string unknown_type_message(const std::string& type, const ProcessorRegistry& registry) {
  std::string message = "unknown processor type '" + type + "'";
  if (auto close = suggest(type, registry.names()); !close.empty()) return message + "; did you mean '" + close + "'?";
  return message + "; available: " + registry.names_joined();
}

}  // namespace

const std::vector<std::string>& processor_keys() {
  static const std::vector<std::string> keys = key_names(processor_fields());
  return keys;
}

std::shared_ptr<ProcessorInstance> parse_processor(Reporter& reporter, const MapReader& spec, std::string name,
                                                   const ProcessorRegistry& registry,
                                                   const ProcessorDefaults& defaults) {
  const std::size_t before = reporter.count();
  auto instance = std::make_shared<ProcessorInstance>();
  instance->name = std::move(name);

  const ProcessorType* type = nullptr;
  if (const Field* use = spec.require("use")) {
    if (auto type_name = read_string(reporter, *use)) {
      instance->type = *type_name;
      type = registry.find(*type_name);
      if (!type) reporter.error(*use, unknown_type_message(*type_name, registry));
    }
  }

  WithSite site{join_path(spec.self().path, "with"), mark_of(spec.self()), {}};
  bool with_ok = true;
  if (const Field* with = spec.get("with")) {
    site.mark = mark_of(*with);
    if (with->value.IsDefined() && !with->value.IsNull() && !with->value.IsMap()) {
      reporter.error(*with, "expected a map of parameters, got " + describe(with->value));
      with_ok = false;
    } else if (with->value.IsMap()) {
      const std::size_t with_before = reporter.count();
      instance->with = yaml_to_json(reporter, *with, &site.marks);
      with_ok = reporter.count() == with_before;
    }
  }

  StepPolicy& policy = instance->policy;
  if (const Field* f = spec.get("timeout"))
    policy.timeout = read_timeout(reporter, *f);
  else
    policy.timeout = defaults.timeout;
  // A processor's own retry replaces the default one as a whole: mixing the two would be surprising.
  if (const Field* f = spec.get("retry")) {
    if (auto retry = parse_retry(reporter, *f)) policy.retry = *retry;
  } else if (defaults.retry) {
    policy.retry = *defaults.retry;
  }
  if (const Field* f = spec.get("concurrency")) {
    if (auto v = read_int(reporter, *f, 1)) {
      if (*v > std::numeric_limits<int>::max())
        reporter.error(*f, "concurrency too large: " + std::to_string(*v));
      else
        policy.concurrency = static_cast<int>(*v);
    }
  }
  if (const Field* f = spec.get("rate")) {
    if (auto rate = read_rate(reporter, *f)) policy.rate = *rate;
  }
  if (const Field* f = spec.get("priority")) {
    if (auto v = read_int(reporter, *f, 1)) {
      if (*v > kMaxPriority)
        reporter.error(*f, "priority too large: " + std::to_string(*v) + " (at most " + std::to_string(kMaxPriority) +
                               ", as BullMQ; 1 runs first)");
      else
        policy.priority = *v;
    }
  }
  if (const Field* f = spec.get("delay")) {
    if (auto v = read_duration(reporter, *f)) policy.delay = *v;
  }
  if (const Field* f = spec.get("description")) {
    if (auto text = read_string(reporter, *f)) instance->description = *text;
  }

  if (type && with_ok) with_ok = params_match_schema(reporter, site, *type, instance->with, *spec.get("use"));
  if (type && with_ok) apply_base_dir(*type, defaults.base_dir, instance->with);
  if (type && with_ok) {
    if (!type->create) {
      reporter.error(spec.self(), "processor type '" + type->name + "' cannot be instantiated (it has no factory)");
    } else {
      try {
        auto created = type->create(instance->with);
        if (!created)
          report_create_error(reporter, site, created.error());
        else if (!*created)
          reporter.error(spec.self(), "processor type '" + type->name + "' returned no processor");
        else
          instance->impl = std::move(*created);
      } catch (const std::exception& e) {
        // A factory should return errors, not throw; still, one bad plugin must not abort the load.
        reporter.error_at(site.mark, site.path, "processor type '" + type->name + "' failed: " + e.what());
      }
    }
  }
  if (reporter.count() != before) return nullptr;
  return instance;
}

}  // namespace am2z
