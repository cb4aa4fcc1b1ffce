#include "plugins/delete_processor.hpp"

#include <utility>
#include <vector>

#include "plugins/params.hpp"

namespace am2z {

namespace {

class DeleteProcessor final : public Processor {
 public:
  explicit DeleteProcessor(std::vector<JsonPath> paths) : paths_(std::move(paths)) {}

  Status process(State& state, Context& /*ctx*/) const override {
    for (const auto& path : paths_) path.erase(state.data);  // absent paths are fine
    return {};
  }

 private:
  std::vector<JsonPath> paths_;
};

Result<std::unique_ptr<Processor>> create_delete(const Json& with) {
  if (auto ok = params::check_keys(with, {"paths"}); !ok) return fail(ok.error());
  const Json* paths = params::find(with, "paths");
  if (paths == nullptr) return fail(params::missing("paths"));
  auto parsed = params::as_paths(*paths, "paths");
  if (!parsed) return fail(parsed.error());
  return std::make_unique<DeleteProcessor>(std::move(*parsed));
}

}  // namespace

ProcessorType delete_processor_type() {
  ProcessorType type;
  type.name = "delete";
  type.description = "Removes the listed paths from the state (absent ones are skipped)";
  type.params_schema =
      Json{{"type", "object"},
           {"properties",
            {{"paths", {{"type", "array"}, {"minItems", 1}, {"items", params::path_schema("a path to remove")}}}}},
           {"required", Json::array({"paths"})},
           {"additionalProperties", false}};
  type.create = create_delete;
  return type;
}

}  // namespace am2z
