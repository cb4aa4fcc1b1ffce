#pragma once
// Flow files: YAML -> am2z::Flow, reporting every mistake of a file in one pass.
//
//   version: 1                 # required; the format version, the integer 1
//   name: order-flow           # required
//   description: text          # optional
//   include: [lib/common.yaml] # optional; files (relative to this one) whose processors and flows
//                              #   become available here; their own `flow:` and `input:` are ignored
//   input: {type: object, ...} # optional JSON Schema (draft-07) of the input data
//   plugins: [lib/x.so]        # optional; plugin files (relative to the flow file) loaded before processors resolve
//   defaults:                  # optional; timeout and retry for every processor instance lacking its own
//     timeout: 30s             #   per-attempt timeout (> 0)
//     retry: {attempts: 3, backoff: 100ms, multiplier: 2, max_backoff: 10s, jitter: 0.2,
//             on: [NETWORK_ERROR, network]}   # error codes, or category names
//   processors:                # named instances: name -> {use, with?, timeout?, retry?, concurrency?, rate?,
//   description?}
//     validate: {use: exec, with: {argv: [python3, validate.py]}, timeout: 5s}
//   flows:                     # optional named sub-flows: name -> node (names shared with processors)
//     payment: {chain: [charge, receipt]}
//   flow: <node>               # required root node
//
// A node is a processor or sub-flow name, or a map with exactly one of:
//   {chain: [node, ...], name?, timeout?}
//   {parallel: [node, ...], merge?: deep|shallow|last-wins, name?, timeout?}
//   {route: .path, cases?: {value: node, ...}, default?: node, name?, timeout?}
//   {batch: node, items: [...] | .path, concurrency?: 8, mode?: fail-fast|collect, output?: .batch, name?, timeout?}
//   {flow: sub-flow, input?: {key: .path | value}, output?: .path, name?, timeout?}   (sub-flow call)
//   {use: type, with?: {...}, name?, timeout?, retry?, concurrency?, rate?, description?}   (inline processor)
// The keys of every map are in flows/flow_format.hpp, which `am2z schema` is generated from.
// A processor's own timeout / retry replaces the default one whole. Composite labels are `name`, else
// the field path ("flow.chain[2]"); an inline processor is named `name`, else "<type>#<n>".
#include <memory>
#include <string>
#include <vector>

#include "core/flow.hpp"
#include "core/processor.hpp"
#include "flows/diagnostic.hpp"
#include "flows/plugin_list.hpp"

namespace am2z {

/// A loaded flow, or the mistakes that prevented it (sorted by line, then column).
struct LoadResult {
  std::shared_ptr<Flow> flow;  ///< null whenever there are diagnostics
  std::vector<Diagnostic> diagnostics;
  std::vector<std::string> plugins;  ///< the resolved paths of the flow's `plugins:` list
  bool ok() const { return flow && diagnostics.empty(); }
};

/// Reads and loads a flow file; an unreadable file is one diagnostic at line 0 naming the OS error.
/// `plugins` loads the files of a `plugins:` list; without it such a list is an error.
LoadResult load_flow_file(const std::string& path, const ProcessorRegistry& registry, const PluginHook& plugins = {});

/// True when `path` is a readable YAML map without a `flow:` key: a library for `include:`, not a
/// flow to run (workers serving a directory skip such files).
bool is_flow_library(const std::string& path);

/// Loads flow YAML from memory; `file_label` names it in diagnostics and becomes Flow::source.
/// `base_dir` is where relative paths in processor parameters (exec's cwd) resolve; load_flow_file
/// passes the flow file's directory.
LoadResult load_flow_text(const std::string& text, const std::string& file_label, const ProcessorRegistry& registry,
                          const std::string& base_dir = "", const PluginHook& plugins = {});

}  // namespace am2z
