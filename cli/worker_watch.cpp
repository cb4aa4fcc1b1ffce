#include "cli/worker_watch.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>

#include "cli/cli_support.hpp"
#include "cli/interrupt.hpp"
#include "cli/redis_support.hpp"
#include "flows/loader.hpp"
#include "plugins/file_watcher.hpp"

namespace am2z::cli {

namespace {

/// How long files must stay quiet before a reload: editors and deploy tools write in steps.
constexpr Millis kSettle{200};

/// The flows the files under `paths` define now; a file that does not load keeps the version
/// in `served` (its diagnostics go to stderr).
ServedFlows load_current(const std::vector<std::string>& paths, PluginCatalog& catalog, const std::string& prefix,
                         const ServedFlows& served) {
  bool ok = true;
  ServedFlows now;
  for (const auto& file : flow_files(paths, "worker --watch", ok, false)) {
    if (is_flow_library(file)) continue;
    auto planned = plan_flow_file(file, catalog, prefix);
    if (planned) {
      now[planned->flow().name] = std::move(planned);
      continue;
    }
    for (const auto& [name, flow] : served) {
      if (flow->flow().source == file) {
        spdlog::error("{} does not load: flow {} stays served in its previous version", file, name);
        now[name] = flow;
      }
    }
  }
  return now;
}

}  // namespace

void follow_flow_files(redis::Worker& worker, const std::vector<std::string>& paths, PluginCatalog& catalog,
                       const std::string& prefix, ServedFlows served, const CancelToken& stop, bool watch_files) {
  FileWatcher watcher;
  if (watch_files && !watcher.ok()) {
    spdlog::error("worker --watch: {}; flow files are followed on SIGHUP only", watcher.error());
    watch_files = false;
  }
  if (watch_files) {
    for (const auto& path : paths) {
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec)) {
        watcher.watch_directory(path);
      } else {
        watcher.watch_file(path);
      }
    }
    for (const auto& dir : catalog.directories()) watcher.watch_directory(dir);
    for (const auto& file : catalog.files()) watcher.watch_file(file);
  }
  // A SIGHUP cancels the current wait; the wait's source is replaced after each one.
  std::mutex mutex;
  std::shared_ptr<CancelSource> waiting;
  std::atomic<bool> hangup{false};
  set_hangup_handler([&] {
    hangup = true;
    std::lock_guard lock(mutex);
    if (waiting) waiting->cancel("SIGHUP");
  });
  while (!stop.cancelled()) {
    {
      std::lock_guard lock(mutex);
      waiting = std::make_shared<CancelSource>(stop);
    }
    const CancelToken token = waiting->token();
    bool changed = false;
    if (!hangup.load()) {
      if (watch_files) {
        changed = !watcher.wait(token, kSettle).empty();
      } else {
        token.wait_until(kNoDeadline);
      }
    }
    if (stop.cancelled()) break;
    const bool signalled = hangup.exchange(false);
    if (!changed && !signalled) continue;
    if (signalled) spdlog::info("SIGHUP: reading the flow files and plugins again");
    // A reloaded plugin changes what its types do, not the flow files' hashes: every flow is
    // then served again, built on the new plugin.
    bool plugins_changed = false;
    for (const auto& change : catalog.refresh()) {
      if (change.kind == PluginChange::Kind::failed) {
        spdlog::error("{}", change.describe());
      } else {
        spdlog::info("{}", change.describe());
        plugins_changed = true;
      }
    }
    ServedFlows now = load_current(paths, catalog, prefix, served);
    for (const auto& [name, flow] : served) {
      auto it = now.find(name);
      if (!plugins_changed && it != now.end() && it->second->hash() == flow->hash()) continue;
      if (auto st = worker.remove_flow(name); !st) spdlog::error("worker --watch: {}", st.error().message);
      if (it == now.end()) spdlog::info("flow {} removed: its queues are no longer served", name);
    }
    for (const auto& [name, flow] : now) {
      auto was = served.find(name);
      if (!plugins_changed && was != served.end() && was->second->hash() == flow->hash()) continue;
      if (auto st = worker.add_flow(flow); !st) {
        spdlog::error("worker --watch: flow {} not served: {}", name, st.error().message);
        continue;
      }
      spdlog::info("flow {} {} ({}, sha256 {})", name, was == served.end() ? "added" : "updated", flow->flow().source,
                   flow->hash().substr(0, 12));
    }
    served = std::move(now);
  }
  set_hangup_handler({});
}

}  // namespace am2z::cli
