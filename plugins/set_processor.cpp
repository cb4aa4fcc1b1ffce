#include "plugins/set_processor.hpp"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/json_path.hpp"
#include "plugins/params.hpp"

namespace am2z {

namespace {

struct Assignment {
  JsonPath path;
  std::string field;  ///< the top-level member of the data it lands in
  Json value;
};

class SetProcessor final : public Processor {
 public:
  bool instant() const override { return true; }
  SetProcessor(std::vector<Assignment> assignments, bool may_fail)
      : assignments_(std::move(assignments)), may_fail_(may_fail) {}

  Status process(State& state, Context& /*ctx*/) const override {
    if (!may_fail_) {
      // Every path is a top-level field of an object: nothing can fail, so no copy.
      for (const auto& a : assignments_) state.data[a.field] = a.value;
      return {};
    }
    // A deeper path can meet a value of the wrong type half-way through the list. Work on
    // copies of only the top-level members involved, and commit them when all succeeded.
    Json scratch = Json::object();
    for (const auto& a : assignments_) {
      if (scratch.contains(a.field)) continue;
      auto it = state.data.find(a.field);
      if (it != state.data.end()) scratch[a.field] = *it;
    }
    for (const auto& a : assignments_) {
      if (auto ok = a.path.assign(scratch, a.value); !ok) return ok;
    }
    for (auto& [field, value] : scratch.items()) state.data[field] = std::move(value);
    return {};
  }

 private:
  std::vector<Assignment> assignments_;  // in key order of `values`
  bool may_fail_;
};

Error bad_path(const std::string& key, std::string reason) {
  return errors::validation("values", key, "'" + key + "': " + std::move(reason));
}

Result<Assignment> read_assignment(const std::string& key, const Json& value) {
  // "a.b" and ".a.b" mean the same: flow authors write both.
  std::string text = !key.empty() && key.front() == '.' ? key : "." + key;
  auto path = JsonPath::parse(text);
  if (!path) return fail(bad_path(key, params::reason_of(path.error())));
  if (path->is_root()) return fail(bad_path(key, "cannot replace the whole state; name a field such as .status"));
  const auto* field = std::get_if<std::string>(&path->segments().front());
  if (field == nullptr) return fail(bad_path(key, "must start with a field name: the state is an object"));
  if (*field == "metadata") return fail(bad_path(key, "metadata is owned by the engine"));
  return Assignment{std::move(*path), *field, value};
}

Result<std::unique_ptr<Processor>> create_set(const Json& with) {
  // The schema makes `values` a map; each key is still a path to parse.
  const Json* found = params::find(with, "values");
  const Json values = found != nullptr && found->is_object() ? *found : Json::object();
  std::vector<Assignment> assignments;
  std::set<std::string> seen;
  bool may_fail = false;
  for (const auto& [key, value] : values.items()) {
    auto a = read_assignment(key, value);
    if (!a) return fail(a.error());
    if (!seen.insert(a->path.text()).second) return fail(bad_path(key, "sets a path that another key already sets"));
    may_fail = may_fail || a->path.segments().size() > 1;
    assignments.push_back(std::move(*a));
  }
  return std::make_unique<SetProcessor>(std::move(assignments), may_fail);
}

}  // namespace

ProcessorType set_processor_type() {
  ProcessorType type;
  type.name = "set";
  type.description = "Assigns fixed values at paths of the state (\".a.b\" or \"a.b\"), creating objects on the way";
  type.params_schema = Json{
      {"type", "object"},
      {"properties",
       {{"values",
         {{"type", "object"}, {"description", "path -> JSON value; applied in sorted key order, all or nothing"}}}}},
      {"required", Json::array({"values"})},
      {"additionalProperties", false}};
  type.create = create_set;
  return type;
}

}  // namespace am2z
