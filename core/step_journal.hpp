#pragma once
// What a local run keeps to be resumed (run --run-dir): every processor step that succeeds is
// appended to a journal file as one JSON line, {"step": <node path>, "item": <batch items>,
// "state": <the state it produced>}, written through at once, so a run killed or failed at step
// 9 of 10 has steps 1 to 8 on disk. A run resuming it takes those results instead of running the
// steps again: a step is known by its node path ("n.1.0", as across workers) and, inside a
// batch, its item indexes ("3", "3.1").
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/result.hpp"
#include "core/state.hpp"

namespace am2z {

class Node;

class StepJournal {
 public:
  /// Results to reuse, by step key.
  using Results = std::unordered_map<std::string, Json>;

  /// Appends to `file` (created if missing); `reuse` holds the results of the run being resumed.
  /// Steps are keyed by their place under `root`; a node found at two places (a named sub-flow
  /// used twice) is neither recorded nor reused.
  static Result<std::shared_ptr<StepJournal>> open(const std::string& file, const Node& root, Results reuse = {});
  /// The results a journal file holds; a torn last line (a run killed mid-write) is skipped.
  static Result<Results> load(const std::string& file);
  /// The key of a step: its node path, then "@" and the batch items when inside a batch.
  static std::string key(const std::string& path, const std::string* item);

  ~StepJournal();
  StepJournal(const StepJournal&) = delete;
  StepJournal& operator=(const StepJournal&) = delete;

  /// The node's path under the root; null for a node of another flow (ctx.call) or at two places.
  const std::string* path_of(const Node* node) const;
  /// The result the resumed run left for step `key`, counted as reused; nullopt: run the step.
  std::optional<Json> reuse(const std::string& key);
  /// Writes a succeeded step's result through to the file. A write that fails is logged once and
  /// the run goes on: the journal only ever saves work.
  void record(const std::string& key, const State& state);
  /// Node path → how many results were reused at it (batch items count one each).
  std::map<std::string, long long> reused() const;

 private:
  StepJournal() = default;
  std::FILE* file_ = nullptr;
  std::string name_;
  std::unordered_map<const Node*, std::string> paths_;
  Results reuse_;
  std::map<std::string, long long> reused_;
  bool write_failed_ = false;
  mutable std::mutex mutex_;
};

}  // namespace am2z
