/* The binary contract between am2z and a plugin: plain C, so a plugin depends neither on the
 * host's C++ standard library ABI nor on its nlohmann_json version. Data crosses as UTF-8 JSON
 * text with explicit lengths; text handed to a sink is copied before the call returns.
 *
 * A plugin is a shared library exporting
 *     const am2z_plugin_v1* am2z_plugin_entry(void);
 * The descriptor's first member is the ABI version: the host reads it before anything else and
 * refuses a plugin whose version differs from AM2Z_PLUGIN_ABI_VERSION. Bump the version on any
 * change to these structs or to the meaning of their members. */
#ifndef AM2Z_PLUGIN_ABI_H
#define AM2Z_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AM2Z_PLUGIN_ABI_VERSION 1u
#define AM2Z_SDK_VERSION "0.1.0"
#define AM2Z_PLUGIN_ENTRY_SYMBOL "am2z_plugin_entry"

/* Return values of create and process. */
#define AM2Z_OK 0
#define AM2Z_FAILED 1

/* Log levels of am2z_host.log, as spdlog numbers them. */
#define AM2Z_LOG_TRACE 0
#define AM2Z_LOG_DEBUG 1
#define AM2Z_LOG_INFO 2
#define AM2Z_LOG_WARN 3
#define AM2Z_LOG_ERROR 4

/* Receives one piece of text (copied before the call returns). */
typedef struct am2z_sink {
  void* data;
  void (*write)(void* data, const char* text, size_t size);
} am2z_sink;

/* What the host offers a processor during one attempt of one step. Valid only during the call. */
typedef struct am2z_host {
  void* data; /* passed back to every callback */
  void (*log)(void* data, int level, const char* message, size_t size);
  /* A custom event; `json` is its data as JSON text (size 0: no data). */
  void (*emit)(void* data, const char* event, size_t event_size, const char* json, size_t json_size);
  /* Non-zero once the step is cancelled (timeout, Ctrl-C, a failed sibling): stop early. */
  int (*is_cancelled)(void* data);
  /* Milliseconds left before the step's deadline; -1 when it has none. */
  int64_t (*remaining_ms)(void* data);
  const char* session_id;
  size_t session_id_size;
  const char* execution_id;
  size_t execution_id_size;
  const char* processor_name; /* the instance name in the flow */
  size_t processor_name_size;
  int attempt; /* 1 for the first try */
} am2z_host;

/* One processor type of a plugin.
 * create:  builds an instance from its `with:` parameters (JSON text, "null" when none). On
 *          failure returns AM2Z_FAILED and writes to `error` a JSON object
 *          {"message": "...", "field": "path inside with"}.
 * process: runs one attempt on the state data (a JSON object without metadata). On success returns
 *          AM2Z_OK, writing the new data object to `output` (writing nothing keeps the state). On
 *          failure returns AM2Z_FAILED and writes to `output` a JSON object {"code", "message",
 *          "retryable", "category", "details"}. May run concurrently on one instance.
 * destroy: frees an instance made by create. */
typedef struct am2z_processor_type_v1 {
  const char* name;
  const char* description;
  const char* params_schema; /* JSON Schema of `with:` as JSON text */
  void* type_data;           /* passed to create */
  int (*create)(void* type_data, const char* params, size_t params_size, void** instance, const am2z_sink* error);
  int (*process)(void* instance, const char* state, size_t state_size, const am2z_host* host, const am2z_sink* output);
  void (*destroy)(void* instance);
} am2z_processor_type_v1;

/* What am2z_plugin_entry returns; must stay valid until the library is unloaded. */
typedef struct am2z_plugin_v1 {
  uint32_t abi_version;    /* AM2Z_PLUGIN_ABI_VERSION the plugin was built with; always first */
  const char* sdk_version; /* AM2Z_SDK_VERSION the plugin was built with */
  const char* name;        /* the plugin's own name, for logs */
  size_t processor_count;
  const am2z_processor_type_v1* processors;
} am2z_plugin_v1;

typedef const am2z_plugin_v1* (*am2z_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* AM2Z_PLUGIN_ABI_H */
