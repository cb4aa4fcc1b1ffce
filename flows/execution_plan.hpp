#pragma once
// `am2z run --dry-run`: what a flow would do, as JSON and as text, without running anything.
// The graph export (flows/graph_export.hpp) draws the same plan.
#include <string>

#include "core/flow.hpp"

namespace am2z {

/// The flow's node tree with every policy spelled out: {flow, source, input_schema, root: node}.
/// A node is {kind: processor|call|chain|parallel|route|batch, name, ...}: processors carry type,
/// timeout, retry, concurrency, rate; calls the sub-flow's plan under "target"; composites their
/// children (steps, branches, cases + default, target).
Json execution_plan(const Flow& flow);

/// The plan as indented text, one node per line.
std::string execution_plan_text(const Json& plan);

/// "timeout 5s, retry 3 attempts (backoff 100ms x2, max 30s)": a node's policy in words ("" when none).
std::string policy_summary(const Json& node);

}  // namespace am2z
