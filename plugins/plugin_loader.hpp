#pragma once
// Loading C++ plugins: shared libraries exporting am2z_plugin_entry (plugins/sdk/include/am2z/plugin_abi.h).
#include <memory>
#include <string>
#include <vector>

#include "core/processor.hpp"
#include "core/result.hpp"

struct am2z_plugin_v1;

namespace am2z {

/// An open plugin library; closed when the last processor type and instance made from it is gone.
class PluginLibrary {
 public:
  PluginLibrary(std::string path, void* handle, const am2z_plugin_v1* descriptor)
      : path_(std::move(path)), handle_(handle), descriptor_(descriptor) {}
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  /// The path it was named by (not the private copy it may have been loaded from).
  const std::string& path() const { return path_; }
  const am2z_plugin_v1& descriptor() const { return *descriptor_; }

 private:
  std::string path_;
  void* handle_;
  const am2z_plugin_v1* descriptor_;
};

/// A loaded plugin and the processor types it declares (origin "plugin:<path>").
struct LoadedPlugin {
  std::shared_ptr<PluginLibrary> library;
  std::vector<ProcessorType> types;
};

struct PluginLoadOptions {
  /// Load a private copy of the file rather than the file itself: dlopen returns the library
  /// already loaded for a path, so a rebuilt plugin is only really reloaded from a new file.
  bool private_copy = false;
};

/// Opens `path` (RTLD_NOW | RTLD_LOCAL) and checks its entry point and ABI version. Every refusal
/// is a ConfigurationError whose message starts with "plugin '<path>': ": not a shared library,
/// no am2z_plugin_entry, another ABI version, a malformed descriptor, duplicate type names.
Result<LoadedPlugin> load_plugin(const std::string& path, const PluginLoadOptions& options = {});

/// The ConfigurationError of a plugin that cannot be used.
Error plugin_error(const std::string& path, std::string reason);

}  // namespace am2z
