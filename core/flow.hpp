#pragma once
// A loaded flow: its root node, named processor instances and named sub-flows.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/node.hpp"

namespace am2z {

class Flow {
 public:
  std::string name;
  std::string description;
  std::string source;                 ///< file it came from, for messages
  std::vector<std::string> included;  ///< files read through `include:`, in the order they were read
  NodePtr root;
  Json input_schema;  ///< JSON Schema the input data must match (flow files' `input:`); null: any input
  std::map<std::string, std::shared_ptr<ProcessorInstance>, std::less<>> processors;
  /// Everything `ctx.call(name)` may reach: a leaf per processor instance and each sub-flow.
  std::map<std::string, NodePtr, std::less<>> callables;

  const Node* find_callable(std::string_view n) const {
    auto it = callables.find(n);
    return it == callables.end() ? nullptr : it->second.get();
  }
};

}  // namespace am2z
