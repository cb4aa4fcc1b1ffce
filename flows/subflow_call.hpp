#pragma once
// `{flow: name, input: {...}, output: .path}`: a sub-flow run on an input mapped from the caller's
// state, its output stored at a path or merged back. It runs as a step, through ctx.call.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_path.hpp"
#include "core/processor.hpp"

namespace am2z {

/// The processor type name that graphs and events show for a sub-flow call.
inline constexpr std::string_view kSubflowCallType = "flow";

/// One key of the sub-flow's input: the value at `path` in the caller's data, or `literal`.
struct InputBinding {
  std::string key;
  std::optional<JsonPath> path;  ///< nothing found there leaves the key out
  Json literal;
};

/// What a call does. Without `input` the sub-flow sees the caller's whole data; without `output`
/// its result replaces the data (no input) or is deep-merged into it (with input).
struct SubflowCall {
  std::string target;
  std::optional<std::vector<InputBinding>> input;
  std::optional<JsonPath> output;
};

/// The processor that performs `call`; the caller's state is untouched when the sub-flow fails.
std::unique_ptr<Processor> make_subflow_call(SubflowCall call);

/// Merges `patch` into `target`: maps key by key, recursively; anything else replaces.
void deep_merge(Json& target, Json patch);

}  // namespace am2z
