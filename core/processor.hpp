#pragma once
// The processor contract and the registry of processor types.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/json.hpp"
#include "core/result.hpp"
#include "core/state.hpp"

namespace am2z {

/// One configured processor. `process` may be called concurrently from several threads.
class Processor {
 public:
  virtual ~Processor() = default;
  /// Transforms `state` in place. On failure it must leave `state` as it found it, so the
  /// caller can report the state before the failing step without copying it first.
  virtual Status process(State& state, Context& ctx) const = 0;
  /// True for transforms that never wait (no I/O, no sleeping, microseconds of CPU): a worker
  /// may run them on its own thread instead of handing them to the pool. Unsure: leave false.
  virtual bool instant() const { return false; }
  /// Where the step runs: nullopt in whatever process runs the flow (locally, or any am2z
  /// worker); a queue name when the step is a job on that queue for another worker (a BullMQ
  /// Node Worker, say) and the flow goes on when it ends.
  virtual std::optional<std::string> remote_queue() const { return std::nullopt; }
};

/// Builds a processor from its `with:` parameters; a bad parameter is a ValidationError whose
/// context.field is the path inside `with` (e.g. "argv[0]").
using ProcessorFactory = std::function<Result<std::unique_ptr<Processor>>(const Json& with)>;

/// A kind of processor that flows instantiate with `use: <name>`.
struct ProcessorType {
  std::string name;
  std::string description;
  Json params_schema = Json::object();  ///< JSON Schema of `with:`
  ProcessorFactory create;
  std::string origin = "builtin";  ///< where it came from: builtin or a plugin path
  /// The `with:` field naming the directory the processor works in, if it has one: flows run
  /// from anywhere, so it defaults to the flow file's directory and a relative value is
  /// resolved against it, like includes.
  std::string flow_dir_param{};
};

/// Processor types by name.
class ProcessorRegistry {
 public:
  /// Adds or replaces a type.
  void add(ProcessorType type);
  const ProcessorType* find(std::string_view name) const;
  std::vector<std::string> names() const;
  /// "a, b, c", for "did you mean" and not-found messages.
  std::string names_joined() const;

 private:
  std::map<std::string, ProcessorType, std::less<>> types_;
};

}  // namespace am2z
