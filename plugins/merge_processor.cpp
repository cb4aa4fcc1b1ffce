#include "plugins/merge_processor.hpp"

#include <optional>
#include <utility>

#include "plugins/params.hpp"

namespace am2z {

namespace {

/// Objects merge key by key, recursively; anything else in `patch` replaces what `target` had.
void deep_merge(Json& target, const Json& patch) {
  if (!target.is_object() || !patch.is_object()) {
    target = patch;
    return;
  }
  for (const auto& [key, value] : patch.items()) {
    auto it = target.find(key);
    if (it == target.end()) {
      target[key] = value;
    } else {
      deep_merge(*it, value);
    }
  }
}

class MergeProcessor final : public Processor {
 public:
  MergeProcessor(JsonPath into, Json value, std::optional<JsonPath> from)
      : into_(std::move(into)), value_(std::move(value)), from_(std::move(from)) {}

  Status process(State& state, Context& /*ctx*/) const override {
    const Json* patch = &value_;
    if (from_) {
      patch = from_->find(state.data);
      if (patch == nullptr) {
        return fail(errors::validation("from", from_->text(), "path " + from_->text() + " is not in the state"));
      }
    }
    if (into_.is_root()) {
      if (!patch->is_object()) {
        return fail(errors::validation(
            "into", ".", "only an object can be merged into the whole state, not " + std::string(patch->type_name())));
      }
      Json merged = state.data;
      deep_merge(merged, *patch);
      merged.erase("metadata");  // the engine owns metadata
      state.data = std::move(merged);
      return {};
    }
    // Work on a copy of the top-level member involved: the state stays as it was on failure.
    const std::string& field = std::get<std::string>(into_.segments().front());
    Json scratch = Json::object();
    if (auto it = state.data.find(field); it != state.data.end()) scratch[field] = *it;
    Json target = into_.find(scratch) != nullptr ? *into_.find(scratch) : Json();
    deep_merge(target, *patch);
    if (auto ok = into_.assign(scratch, std::move(target)); !ok) return ok;
    state.data[field] = std::move(scratch[field]);
    return {};
  }

 private:
  JsonPath into_;
  Json value_;
  std::optional<JsonPath> from_;
};

Result<std::unique_ptr<Processor>> create_merge(const Json& with) {
  if (auto ok = params::check_keys(with, {"into", "value", "from"}); !ok) return fail(ok.error());
  const Json* value = params::find(with, "value");
  const Json* from = params::find(with, "from");
  if ((value == nullptr) == (from == nullptr)) {
    return fail(errors::validation(value == nullptr ? "value" : "from", nullptr,
                                   "give exactly one of value (a literal) and from (a path in the state)"));
  }
  JsonPath into = *JsonPath::parse(".");
  if (const Json* v = params::find(with, "into")) {
    auto path = params::as_path(*v, "into", /*allow_root=*/true);
    if (!path) return fail(path.error());
    into = std::move(*path);
  }
  if (into.is_root() && value != nullptr && !value->is_object()) {
    return fail(errors::validation("value", *value, "must be an object to merge into the whole state"));
  }
  std::optional<JsonPath> source;
  if (from != nullptr) {
    auto path = params::as_path(*from, "from", /*allow_root=*/false);
    if (!path) return fail(path.error());
    source = std::move(*path);
  }
  return std::make_unique<MergeProcessor>(std::move(into), value != nullptr ? *value : Json(), std::move(source));
}

}  // namespace

ProcessorType merge_processor_type() {
  ProcessorType type;
  type.name = "merge";
  type.description =
      "Deep-merges a value (a literal, or one taken from the state) into a path of the state: objects merge "
      "key by key, anything else replaces";
  type.params_schema = Json{
      {"type", "object"},
      {"properties",
       {{"into", params::path_schema("where to merge; default: the whole state")},
        {"value", {{"description", "the value to merge"}}},
        {"from", params::path_schema("take the value to merge from this path of the state")}}},
      {"required", Json::array()},
      {"oneOf", Json::array({Json{{"required", Json::array({"value"})}}, Json{{"required", Json::array({"from"})}}})},
      {"additionalProperties", false}};
  type.create = create_merge;
  return type;
}

}  // namespace am2z
