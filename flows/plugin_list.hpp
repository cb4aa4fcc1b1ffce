#pragma once
// The `plugins:` list of a flow file: plugin files loaded before any processor is resolved.
#include <functional>
#include <string>
#include <vector>

#include "core/processor.hpp"
#include "core/result.hpp"
#include "flows/field.hpp"

namespace am2z {

/// Loads one plugin file and adds its processor types to `registry`; an error's message becomes
/// the diagnostic. Flows know nothing of plugins: the caller (the CLI, a worker) supplies this.
using PluginHook = std::function<Status(const std::string& path, ProcessorRegistry& registry)>;

/// Reads `plugins: [path, ...]` (relative paths resolve against `base_dir`), loads each through
/// `hook` into `registry` and appends the resolved paths to `paths`. Reports at the item.
void load_flow_plugins(Reporter& reporter, const Field& field, const std::string& base_dir, const PluginHook& hook,
                       ProcessorRegistry& registry, std::vector<std::string>& paths);

}  // namespace am2z
