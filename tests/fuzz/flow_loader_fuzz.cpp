// Fuzz target: flow YAML text -> load_flow_text with the built-in processor types, as `am2z
// validate` and `am2z run` load a file. Beyond "no crash, no sanitizer report" it checks the
// loader's contract: a flow or at least one diagnostic, never both, and diagnostics that print.
// `include:` paths resolve against the working directory: tests/fuzz/run starts the fuzzer in an
// empty one.
#include <cstddef>
#include <cstdint>
#include <string>

#include "flows/graph_export.hpp"
#include "flows/loader.hpp"
#include "plugins/builtins.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace am2z;
  static const ProcessorRegistry registry = [] {
    ProcessorRegistry r;
    register_builtins(r);
    return r;
  }();
  const std::string text(fuzz::text_of(data, size));
  const LoadResult loaded = load_flow_text(text, "fuzz.yaml", registry);
  AM2Z_FUZZ_CHECK((loaded.flow != nullptr) == loaded.diagnostics.empty());
  for (const Diagnostic& d : loaded.diagnostics) {
    AM2Z_FUZZ_CHECK(d.file == "fuzz.yaml" || !d.file.empty());
    AM2Z_FUZZ_CHECK(d.line >= 0 && d.column >= 0);
    AM2Z_FUZZ_CHECK(!d.message.empty());
    AM2Z_FUZZ_CHECK(!d.to_string().empty());
    AM2Z_FUZZ_CHECK(!fuzz::printed(d.to_json()).empty());
  }
  if (loaded.flow) {
    // `am2z graph` walks every node the loader built.
    AM2Z_FUZZ_CHECK(!export_graph(*loaded.flow, GraphFormat::dot).empty());
    AM2Z_FUZZ_CHECK(!export_graph(*loaded.flow, GraphFormat::mermaid).empty());
  }
  return 0;
}
