#pragma once
// am2z worker --watch, and SIGHUP: the flow files and directories given to --flows (and the
// plugins) are read again, and the worker follows them while it serves: a new flow file is
// served, a removed one is no longer fetched from (its running steps finish), a changed one is
// served in its new version, and a changed plugin is reloaded with every flow served again on
// it. A file that no longer loads keeps its last good version served and is reported on stderr.
// --watch reloads when a watched file changes; SIGHUP reloads at once, with or without it.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/cancel.hpp"
#include "core/redis/planner.hpp"
#include "core/redis/worker.hpp"
#include "plugins/plugin_catalog.hpp"

namespace am2z::cli {

/// The flows a worker serves, by flow name.
using ServedFlows = std::map<std::string, std::shared_ptr<const redis::PlannedFlow>>;

/// Until `stop` fires, reloads `paths` and the catalog's plugins at every SIGHUP and, when
/// `watch_files`, at every change of them, applying every change to `worker`. `served` is what
/// the worker serves when it starts.
void follow_flow_files(redis::Worker& worker, const std::vector<std::string>& paths, PluginCatalog& catalog,
                       const std::string& prefix, ServedFlows served, const CancelToken& stop, bool watch_files);

}  // namespace am2z::cli
