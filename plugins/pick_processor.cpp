#include "plugins/pick_processor.hpp"

#include <utility>
#include <vector>

#include "plugins/params.hpp"

namespace am2z {

namespace {

class PickProcessor final : public Processor {
 public:
  explicit PickProcessor(std::vector<JsonPath> paths) : paths_(std::move(paths)) {}

  Status process(State& state, Context& /*ctx*/) const override {
    Json kept = Json::object();
    for (const auto& path : paths_) {
      const Json* value = path.find(state.data);
      if (value == nullptr) continue;  // absent paths are simply not kept
      if (auto ok = path.assign(kept, *value); !ok) return ok;
    }
    state.data = std::move(kept);
    return {};
  }

 private:
  std::vector<JsonPath> paths_;
};

Result<std::unique_ptr<Processor>> create_pick(const Json& with) {
  if (auto ok = params::check_keys(with, {"paths"}); !ok) return fail(ok.error());
  const Json* paths = params::find(with, "paths");
  if (paths == nullptr) return fail(params::missing("paths"));
  auto parsed = params::as_paths(*paths, "paths");
  if (!parsed) return fail(parsed.error());
  return std::make_unique<PickProcessor>(std::move(*parsed));
}

}  // namespace

ProcessorType pick_processor_type() {
  ProcessorType type;
  type.name = "pick";
  type.description = "Keeps only the listed paths of the state (absent ones are skipped); everything else is dropped";
  type.params_schema =
      Json{{"type", "object"},
           {"properties",
            {{"paths", {{"type", "array"}, {"minItems", 1}, {"items", params::path_schema("a path to keep")}}}}},
           {"required", Json::array({"paths"})},
           {"additionalProperties", false}};
  type.create = create_pick;
  return type;
}

}  // namespace am2z
