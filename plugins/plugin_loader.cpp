#include "plugins/plugin_loader.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "am2z/plugin_abi.h"
#include "core/json_limits.hpp"
#include "plugins/elf_check.hpp"
#include "plugins/plugin_processor.hpp"

namespace am2z {

namespace {

namespace fs = std::filesystem;

/// The library of a refused plugin must be closed: a handle owner that does it on every path.
struct Handle {
  void* ptr = nullptr;
  ~Handle() {
    if (ptr != nullptr) ::dlclose(ptr);
  }
  void* release() { return std::exchange(ptr, nullptr); }
};

/// The temporary directory of a private copy.
struct CopyDir {
  fs::path dir;
  ~CopyDir() {
    std::error_code ignored;
    if (!dir.empty()) fs::remove_all(dir, ignored);
  }
};

std::string dl_error() {
  const char* text = ::dlerror();
  return text != nullptr ? text : "unknown dlopen error";
}

/// Copies `path` into a fresh temporary directory; the caller removes it once the copy is open.
Result<fs::path> private_copy(const std::string& path) {
  std::string pattern = (fs::temp_directory_path() / "am2z-plugin-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail(plugin_error(path, std::string("cannot make a private copy: ") + std::strerror(errno)));
  }
  fs::path copy = fs::path(pattern) / fs::path(path).filename();
  std::error_code ec;
  fs::copy_file(path, copy, ec);
  if (ec) {
    fs::remove_all(pattern, ec);
    return fail(plugin_error(path, "cannot make a private copy: " + ec.message()));
  }
  return copy;
}

bool valid_type_name(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  for (const char* p = name; *p != '\0'; ++p) {
    const char c = *p;
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// Checks one type of the descriptor; its parsed schema lands in `schema`.
std::string type_problem(const am2z_processor_type_v1& t, Json& schema) {
  if (!valid_type_name(t.name))
    return "a processor type has an empty name or one with characters outside [A-Za-z0-9._-]";
  const std::string name = t.name;
  if (t.create == nullptr || t.process == nullptr || t.destroy == nullptr) {
    return "processor type '" + name + "' lacks its create, process or destroy function";
  }
  if (t.params_schema == nullptr || *t.params_schema == '\0') {
    schema = Json::object();
    return {};
  }
  auto parsed = parse_outside_json(t.params_schema);
  schema = parsed ? std::move(*parsed) : Json(Json::value_t::discarded);
  if (schema.is_discarded() || !(schema.is_object() || schema.is_boolean())) {
    return "processor type '" + name + "' has a parameter schema that is not a JSON object";
  }
  return {};
}

}  // namespace

PluginLibrary::~PluginLibrary() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

Error plugin_error(const std::string& path, std::string reason) {
  Error e = errors::configuration(path, reason);
  e.message = "plugin '" + path + "': " + reason;
  return e;
}

Result<LoadedPlugin> load_plugin(const std::string& path, const PluginLoadOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(plugin_error(path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return fail(plugin_error(path, "not a regular file"));

  std::string open_path = path;
  CopyDir copy;  // removed on return: an opened library's mapping outlives its file
  if (options.private_copy) {
    auto made = private_copy(path);
    if (!made) return fail(made.error());
    copy.dir = made->parent_path();
    open_path = made->string();
  }
  // Checked on the file actually opened: a private copy may have caught a half-written build.
  if (std::string problem = elf_problem(open_path); !problem.empty()) {
    return fail(plugin_error(path, "not a loadable shared library: " + problem));
  }
  Handle handle;
  handle.ptr = ::dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle.ptr == nullptr) return fail(plugin_error(path, "not a loadable shared library: " + dl_error()));

  auto entry = reinterpret_cast<am2z_plugin_entry_fn>(::dlsym(handle.ptr, AM2Z_PLUGIN_ENTRY_SYMBOL));
  if (entry == nullptr) {
    return fail(plugin_error(path,
                             "not an am2z plugin: it exports no am2z_plugin_entry function (define one "
                             "with AM2Z_PLUGIN from <am2z/sdk.hpp>)"));
  }
  const am2z_plugin_v1* descriptor = entry();
  if (descriptor == nullptr) return fail(plugin_error(path, "am2z_plugin_entry returned no descriptor"));
  if (descriptor->abi_version != AM2Z_PLUGIN_ABI_VERSION) {
    return fail(plugin_error(path, "built for plugin ABI version " + std::to_string(descriptor->abi_version) +
                                       ", but this am2z loads ABI version " + std::to_string(AM2Z_PLUGIN_ABI_VERSION) +
                                       " (SDK " + AM2Z_SDK_VERSION + "): rebuild it against this am2z's SDK"));
  }
  if (descriptor->processor_count > 0 && descriptor->processors == nullptr) {
    return fail(plugin_error(path, "its descriptor declares processor types but lists none"));
  }

  auto library = std::make_shared<PluginLibrary>(path, handle.release(), descriptor);
  LoadedPlugin loaded{library, {}};
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < descriptor->processor_count; ++i) {
    const am2z_processor_type_v1& t = descriptor->processors[i];
    Json schema;
    if (std::string problem = type_problem(t, schema); !problem.empty()) return fail(plugin_error(path, problem));
    if (!names.insert(t.name).second) {
      return fail(plugin_error(path, "declares processor type '" + std::string(t.name) + "' twice"));
    }
    loaded.types.push_back(plugin_processor_type(library, t, std::move(schema)));
  }
  return loaded;
}

}  // namespace am2z
