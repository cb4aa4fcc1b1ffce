#include "cli/run_dir.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>

#include "core/json_limits.hpp"
#include "core/text_file.hpp"

namespace am2z::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kRunFile = "run.json";
constexpr const char* kJournalFile = "journal.jsonl";
constexpr const char* kOutcomeFile = "outcome.json";

Error dir_error(const std::string& where, const std::string& why) { return errors::validation(where, nullptr, why); }

/// Writes `text` to `path` whole: a temporary file renamed over it, so a reader never sees half.
Status write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return fail(errors::configuration("--run-dir", tmp + ": cannot write"));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return fail(errors::configuration("--run-dir", path + ": " + ec.message()));
  return {};
}

/// Removes run directories under `root` not written to for longer than `keep`.
void remove_old_runs(const std::string& root, Millis keep) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (!entry.is_directory(ec) || !fs::exists(entry.path() / kRunFile, ec)) continue;  // not a run of ours
    auto last = fs::last_write_time(entry.path() / kJournalFile, ec);
    if (ec) last = fs::last_write_time(entry.path() / kRunFile, ec);
    if (ec || now - last < keep) continue;
    fs::remove_all(entry.path(), ec);
    if (!ec) spdlog::debug("removed run directory {} (older than {} ms)", entry.path().string(), keep.count());
  }
}

}  // namespace

Result<ResumeSource> read_resumable(const std::string& root, const std::string& id, const std::string& flow_name) {
  if (id.empty() || id.find_first_of("/.\\") != std::string::npos) {
    return fail(dir_error("--resume", "'" + id + "' is not a run id"));
  }
  const fs::path dir = fs::path(root) / id;
  auto text = read_text_file((dir / kRunFile).string(), kMaxInputBytes + 4096);
  if (!text) {
    return fail(dir_error(dir.string(), "no run " + id + " is kept there (" + (dir / kRunFile).string() + " " +
                                            text.error().reason + ")"));
  }
  auto doc = parse_outside_json(*text);
  if (!doc || !doc->is_object() || !(*doc)["flow"].is_string() || !(*doc)["input"].is_object()) {
    return fail(dir_error((dir / kRunFile).string(), "is not a run record"));
  }
  if ((*doc)["flow"] != flow_name) {
    return fail(dir_error((dir / kRunFile).string(), "run " + id + " is of flow '" +
                                                         (*doc)["flow"].get<std::string>() + "', not '" + flow_name +
                                                         "'"));
  }
  std::error_code ec;
  const long long pid = doc->value("pid", 0LL);
  if (!fs::exists(dir / kOutcomeFile, ec) && pid > 0 && pid != getpid() && kill(static_cast<pid_t>(pid), 0) == 0) {
    Error e = dir_error(dir.string(), "run " + id + " has not ended: its process " + std::to_string(pid) +
                                          " is still running");
    e.code = kRunNotEnded;
    return fail(std::move(e));
  }
  ResumeSource out;
  out.run_id = id;
  out.input = std::move((*doc)["input"]);
  const std::string session = doc->value("session", "");
  out.session = session == "session-" + id ? std::string() : session;
  auto results = StepJournal::load((dir / kJournalFile).string());
  if (!results) return fail(std::move(results.error()));
  out.results = std::move(*results);
  return out;
}

Result<RunDir> open_run_dir(const std::string& root, const Flow& flow, const State& input, Millis keep,
                            std::optional<ResumeSource> resumed) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return fail(errors::configuration("--run-dir", root + ": " + ec.message()));
  remove_old_runs(root, keep);
  RunDir out;
  out.run_id = new_run_id();
  out.path = (fs::path(root) / out.run_id).string();
  fs::create_directory(out.path, ec);
  if (ec) return fail(errors::configuration("--run-dir", out.path + ": " + ec.message()));
  const std::string session = input.meta.session_id.empty() ? "session-" + out.run_id : input.meta.session_id;
  Json recorded = input.to_json();
  recorded["metadata"]["sessionId"] = session;  // as the run will have it (run_flow's default)
  Json record{{"run", out.run_id},      {"flow", flow.name},  {"flowFile", flow.source},
              {"input", std::move(recorded)}, {"session", session}, {"pid", static_cast<long long>(getpid())},
              {"started", format_timestamp(SystemClock::now())}};
  if (resumed) record["resumeOf"] = resumed->run_id;
  if (auto st = write_file((fs::path(out.path) / kRunFile).string(), dump_text(record) + "\n"); !st) {
    return fail(std::move(st.error()));
  }
  auto journal = StepJournal::open((fs::path(out.path) / kJournalFile).string(), *flow.root,
                                   resumed ? std::move(resumed->results) : StepJournal::Results{});
  if (!journal) return fail(std::move(journal.error()));
  out.journal = std::move(*journal);
  return out;
}

void write_outcome(const RunDir& dir, const RunOutcome& outcome) {
  Json doc{{"run", dir.run_id}, {"ok", outcome.ok()}, {"ended", format_timestamp(SystemClock::now())}};
  if (outcome.error) doc["error"] = outcome.error->to_json();
  if (auto st = write_file((fs::path(dir.path) / kOutcomeFile).string(), dump_text(doc) + "\n"); !st) {
    spdlog::warn("{}", st.error().message);
  }
}

}  // namespace am2z::cli
