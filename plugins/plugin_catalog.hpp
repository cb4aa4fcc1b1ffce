#pragma once
// The plugins of a process and the processor types they contribute, reloadable while it runs:
// `am2z run --watch` now, the distributed worker later (the seed's register + syncProcessors).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/processor.hpp"
#include "plugins/plugin_loader.hpp"

namespace am2z {

/// One difference found by PluginCatalog::refresh.
struct PluginChange {
  enum class Kind { added, changed, removed, failed };
  Kind kind = Kind::added;
  std::string path;
  std::vector<std::string> types;  ///< the processor types it now has (added, changed) or had (removed)
  std::string error;               ///< failed: why the new version was refused (the old one stays)
  /// "added plugin x.so (types: a, b)", "plugin x.so failed to reload: ..."
  std::string describe() const;
};

/// Plugin files and directories, and what each contributes. Type names are unique across the
/// base registry (the built-ins) and every plugin: a duplicate is refused, naming both origins.
class PluginCatalog {
 public:
  /// `base` holds the types plugins may not redefine (the built-ins); it must outlive the catalog.
  explicit PluginCatalog(const ProcessorRegistry& base, PluginLoadOptions options = {});

  /// Loads one plugin file (--plugin, a flow's plugins:). Adding a file already loaded is a no-op.
  Status add_file(const std::string& path);
  /// Loads every *.so of a directory, in name order, and remembers it for refresh().
  Status add_directory(const std::string& dir);
  /// add_directory for each entry of a ':'-separated list (AM2Z_PLUGIN_PATH); empty entries are skipped.
  Status add_search_path(const std::string& list);

  /// Adds every plugin type to `registry`.
  void register_into(ProcessorRegistry& registry) const;
  /// The base types plus every plugin type.
  ProcessorRegistry registry() const;

  /// Reloads files whose contents changed, loads new *.so files of the directories and drops
  /// plugins whose file is gone. A new version that fails to load leaves the old one in place.
  std::vector<PluginChange> refresh();

  /// Every plugin file known (loaded or not) and every directory, for watching.
  std::vector<std::string> files() const;
  const std::vector<std::string>& directories() const { return directories_; }

 private:
  /// What identifies a version of a file: a rebuilt library changes at least one of these.
  struct Signature {
    unsigned long long device = 0, inode = 0, size = 0;
    long long mtime_ns = 0;
    bool operator==(const Signature&) const = default;
  };
  struct Entry {
    std::string path;  ///< as given (or found in a directory)
    Signature signature;
    std::optional<LoadedPlugin> plugin;
    bool explicit_file = false;  ///< named directly rather than found in a directory
  };

  static std::optional<Signature> signature_of(const std::string& path);
  /// Loads `path` and records it under `key`.
  Status load_entry(const std::string& key, const std::string& path, bool explicit_file);
  Result<LoadedPlugin> load_checked(const std::string& key, const std::string& path) const;
  std::vector<std::string> scan(const std::string& dir) const;

  const ProcessorRegistry& base_;
  PluginLoadOptions options_;
  std::map<std::string, Entry> entries_;  ///< by canonical path
  std::vector<std::string> directories_;
};

}  // namespace am2z
