#include "flows/subflow_call.hpp"

namespace am2z {

namespace {

class SubflowCallProcessor final : public Processor {
 public:
  explicit SubflowCallProcessor(SubflowCall call) : call_(std::move(call)) {}

  Status process(State& state, Context& ctx) const override {
    State sub{call_.input ? mapped_input(state.data) : state.data, state.meta};
    auto result = ctx.call(call_.target, std::move(sub));
    if (!result) return fail(std::move(result.error()));
    if (call_.output) {
      // Assign on a copy: a path through a non-object fails, and the state must stay as it was.
      Json data = state.data;
      if (auto st = call_.output->assign(data, std::move(result->data)); !st) return st;
      state.data = std::move(data);
    } else if (call_.input) {
      deep_merge(state.data, std::move(result->data));
    } else {
      state.data = std::move(result->data);
    }
    return {};
  }

 private:
  Json mapped_input(const Json& data) const {
    Json input = Json::object();
    for (const auto& binding : *call_.input) {
      if (!binding.path) {
        input[binding.key] = binding.literal;
      } else if (const Json* found = binding.path->find(data)) {
        input[binding.key] = *found;
      }
    }
    return input;
  }

  SubflowCall call_;
};

}  // namespace

std::unique_ptr<Processor> make_subflow_call(SubflowCall call) {
  return std::make_unique<SubflowCallProcessor>(std::move(call));
}

void deep_merge(Json& target, Json patch) {
  if (!target.is_object() || !patch.is_object()) {
    target = std::move(patch);
    return;
  }
  for (auto& [key, value] : patch.items()) deep_merge(target[key], std::move(value));
}

}  // namespace am2z
