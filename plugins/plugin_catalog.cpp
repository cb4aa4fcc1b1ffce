#include "plugins/plugin_catalog.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

namespace am2z {

namespace {

namespace fs = std::filesystem;

std::string canonical_key(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(path, ec);
  return ec ? path : p.string();
}

std::vector<std::string> type_names(const LoadedPlugin& plugin) {
  std::vector<std::string> names;
  for (const auto& t : plugin.types) names.push_back(t.name);
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string PluginChange::describe() const {
  switch (kind) {
    case Kind::added:
      return "added plugin " + path + " (types: " + joined(types) + ")";
    case Kind::changed:
      return "reloaded changed plugin " + path + " (types: " + joined(types) + ")";
    case Kind::removed:
      return "removed plugin " + path + " (types: " + joined(types) + ")";
    case Kind::failed:
      break;
  }
  return "plugin " + path + " failed to load: " + error;
}

PluginCatalog::PluginCatalog(const ProcessorRegistry& base, PluginLoadOptions options)
    : base_(base), options_(options) {}

Result<LoadedPlugin> PluginCatalog::load_checked(const std::string& key, const std::string& path) const {
  auto loaded = load_plugin(path, options_);
  if (!loaded) return loaded;
  for (const auto& type : loaded->types) {
    if (base_.find(type.name) != nullptr) {
      return fail(plugin_error(path, "processor type '" + type.name + "' is already defined (builtin)"));
    }
    for (const auto& [other_key, other] : entries_) {
      if (other_key == key || !other.plugin) continue;
      for (const auto& t : other.plugin->types) {
        if (t.name == type.name) {
          return fail(plugin_error(path, "processor type '" + type.name + "' is already defined by " + t.origin));
        }
      }
    }
  }
  return loaded;
}

std::optional<PluginCatalog::Signature> PluginCatalog::signature_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return Signature{st.st_dev, st.st_ino, static_cast<unsigned long long>(st.st_size),
                   static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec};
}

Status PluginCatalog::add_file(const std::string& path) {
  const std::string key = canonical_key(path);
  if (auto it = entries_.find(key); it != entries_.end()) {
    it->second.explicit_file = true;
    if (it->second.plugin) return {};
  }
  return load_entry(key, path, true);
}

Status PluginCatalog::load_entry(const std::string& key, const std::string& path, bool explicit_file) {
  Entry entry{path, signature_of(path).value_or(Signature{}), std::nullopt, explicit_file};
  auto loaded = load_checked(key, path);
  if (!loaded) return fail(loaded.error());
  entry.plugin = std::move(*loaded);
  entries_.insert_or_assign(key, std::move(entry));
  return {};
}

std::vector<std::string> PluginCatalog::scan(const std::string& dir) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(dir, ec)) {
    if (item.path().extension() == ".so" && item.is_regular_file(ec)) out.push_back(item.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status PluginCatalog::add_directory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return fail(errors::configuration(dir, "AM2Z_PLUGIN_PATH entry '" + dir + "' is not a directory"));
  }
  if (std::find(directories_.begin(), directories_.end(), dir) == directories_.end()) directories_.push_back(dir);
  for (const auto& path : scan(dir)) {
    const std::string key = canonical_key(path);
    if (entries_.contains(key)) continue;
    if (auto ok = load_entry(key, path, false); !ok) return ok;
  }
  return {};
}

Status PluginCatalog::add_search_path(const std::string& list) {
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) {
      if (auto ok = add_directory(list.substr(start, end - start)); !ok) return ok;
    }
    start = end + 1;
  }
  return {};
}

void PluginCatalog::register_into(ProcessorRegistry& registry) const {
  for (const auto& [key, entry] : entries_) {
    if (!entry.plugin) continue;
    for (const auto& type : entry.plugin->types) registry.add(type);
  }
}

ProcessorRegistry PluginCatalog::registry() const {
  ProcessorRegistry out = base_;
  register_into(out);
  return out;
}

std::vector<PluginChange> PluginCatalog::refresh() {
  std::vector<PluginChange> changes;
  // Files found in directories now; entries found there before but gone now are removed.
  std::map<std::string, std::string> present;
  for (const auto& dir : directories_) {
    for (const auto& path : scan(dir)) present.emplace(canonical_key(path), path);
  }
  for (const auto& [key, entry] : entries_) {
    if (entry.explicit_file) present.emplace(key, entry.path);
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.plugin)
      changes.push_back({PluginChange::Kind::removed, it->second.path, type_names(*it->second.plugin), {}});
    it = entries_.erase(it);
  }
  for (const auto& [key, path] : present) {
    const std::optional<Signature> now = signature_of(path);
    auto it = entries_.find(key);
    if (!now) {
      // An explicit file that vanished: forget its types, keep watching for it.
      if (it != entries_.end() && it->second.plugin) {
        changes.push_back({PluginChange::Kind::removed, path, type_names(*it->second.plugin), {}});
        it->second.plugin.reset();
        it->second.signature = {};
      }
      continue;
    }
    if (it != entries_.end() && it->second.signature == *now) continue;
    const bool had = it != entries_.end() && it->second.plugin.has_value();
    auto loaded = load_checked(key, path);
    if (it == entries_.end()) it = entries_.emplace(key, Entry{path, {}, std::nullopt, false}).first;
    it->second.signature = *now;  // a broken version is reported once, not on every refresh
    if (!loaded) {
      changes.push_back({PluginChange::Kind::failed, path, {}, loaded.error().message});
      continue;
    }
    it->second.plugin = std::move(*loaded);
    changes.push_back(
        {had ? PluginChange::Kind::changed : PluginChange::Kind::added, path, type_names(*it->second.plugin), {}});
  }
  return changes;
}

std::vector<std::string> PluginCatalog::files() const {
  std::vector<std::string> out;
  for (const auto& [key, entry] : entries_) out.push_back(entry.path);
  return out;
}

}  // namespace am2z
