#pragma once
// `am2z graph`: the composition graph of a flow as Graphviz DOT or a Mermaid flowchart. Chains are
// sequence edges, parallels fan out and in, routes label their case edges, batches and sub-flow
// calls are marked; processors show their type, timeout and retry policy.
#include <string>
#include <string_view>

#include "core/flow.hpp"

namespace am2z {

enum class GraphFormat { dot, mermaid };

/// "dot" or "mermaid"; false for anything else.
bool parse_graph_format(std::string_view text, GraphFormat& out);

/// The flow's graph in `format`, ending with a newline.
std::string export_graph(const Flow& flow, GraphFormat format);

}  // namespace am2z
