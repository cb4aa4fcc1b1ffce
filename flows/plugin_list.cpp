#include "flows/plugin_list.hpp"

#include "flows/readers.hpp"

namespace am2z {

void load_flow_plugins(Reporter& reporter, const Field& field, const std::string& base_dir, const PluginHook& hook,
                       ProcessorRegistry& registry, std::vector<std::string>& paths) {
  auto items = read_list(reporter, field);
  if (!items) return;
  for (const Field& item : *items) {
    auto path = read_string(reporter, item);
    if (!path) continue;
    std::string resolved = path->front() == '/' || base_dir.empty() ? *path : base_dir + "/" + *path;
    paths.push_back(resolved);
    if (!hook) {
      reporter.error(item, "plugins cannot be loaded here");
      continue;
    }
    if (auto ok = hook(resolved, registry); !ok) reporter.error(item, ok.error().message);
  }
}

}  // namespace am2z
