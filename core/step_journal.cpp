#include "core/step_journal.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unordered_set>
#include <vector>

#include "core/json_limits.hpp"
#include "core/node_base.hpp"

namespace am2z {

namespace {

/// Every node under `n` by path, as PlannedFlow numbers them; a node met twice goes to `twice`.
void walk(const Node* n, const std::string& path, std::unordered_map<const Node*, std::string>& out,
          std::unordered_set<const Node*>& twice) {
  if (!out.emplace(n, path).second) twice.insert(n);
  const auto children = n->children();
  for (std::size_t i = 0; i < children.size(); ++i) walk(children[i], path + "." + std::to_string(i), out, twice);
}

}  // namespace

std::string StepJournal::key(const std::string& path, const std::string* item) {
  return item == nullptr ? path : path + "@" + *item;
}

Result<std::shared_ptr<StepJournal>> StepJournal::open(const std::string& file, const Node& root, Results reuse) {
  std::FILE* f = std::fopen(file.c_str(), "a");
  if (f == nullptr) {
    return fail(errors::configuration("--run-dir", file + ": cannot write the run's journal: " + std::strerror(errno)));
  }
  std::shared_ptr<StepJournal> j(new StepJournal());
  j->file_ = f;
  j->name_ = file;
  j->reuse_ = std::move(reuse);
  std::unordered_set<const Node*> twice;
  walk(&root, "n", j->paths_, twice);
  for (const Node* n : twice) j->paths_.erase(n);
  return j;
}

Result<StepJournal::Results> StepJournal::load(const std::string& file) {
  std::ifstream in(file);
  if (!in) return fail(errors::validation(file, nullptr, std::string("cannot read the journal: ") + std::strerror(errno)));
  Results out;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    auto doc = parse_outside_json(line);
    const bool whole = doc && doc->is_object() && (*doc)["step"].is_string() && (*doc)["state"].is_object();
    if (!whole) {
      if (in.peek() == std::char_traits<char>::eof()) break;  // a torn last line: the run died writing it
      return fail(errors::validation(file + ":" + std::to_string(n), nullptr, "is not a journal line"));
    }
    const Json& item = (*doc)["item"];
    const std::string scope = item.is_string() ? item.get<std::string>() : std::string();
    out[key((*doc)["step"].get<std::string>(), item.is_string() ? &scope : nullptr)] = std::move((*doc)["state"]);
  }
  return out;
}

StepJournal::~StepJournal() {
  if (file_ != nullptr) std::fclose(file_);
}

const std::string* StepJournal::path_of(const Node* node) const {
  auto it = paths_.find(node);
  return it == paths_.end() ? nullptr : &it->second;
}

std::optional<Json> StepJournal::reuse(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = reuse_.find(key);
  if (it == reuse_.end()) return std::nullopt;
  ++reused_[key.substr(0, key.find('@'))];
  // the step is recorded again: a run resuming this one finds it here too
  Json state = std::move(it->second);
  reuse_.erase(it);
  return state;
}

void StepJournal::record(const std::string& key, const State& state) {
  const auto at = key.find('@');
  Json line{{"step", key.substr(0, at)}};
  if (at != std::string::npos) line["item"] = key.substr(at + 1);
  std::string text = dump_text(line);
  text.pop_back();  // the closing brace: the state is appended as text, not copied into `line`
  text += ",\"state\":" + state.to_text() + "}\n";
  std::lock_guard lock(mutex_);
  if (write_failed_) return;
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    write_failed_ = true;
    spdlog::warn("{}: cannot write the run's journal ({}): a resume of this run will run again what it ran", name_,
                 std::strerror(errno));
  }
}

std::map<std::string, long long> StepJournal::reused() const {
  std::lock_guard lock(mutex_);
  return reused_;
}

}  // namespace am2z
