#pragma once
// Waiting for files and directories to change (Linux inotify), for reloading without a restart.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/cancel.hpp"
#include "core/result.hpp"

namespace am2z {

/// Watches files (through their directory, so a file replaced by a rename or created later is
/// seen too) and whole directories.
class FileWatcher {
 public:
  FileWatcher();
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  /// False when inotify is unavailable; error() says why.
  bool ok() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

  /// Reports changes of `path` (created, written, moved or deleted).
  void watch_file(const std::string& path);
  /// Reports changes of any entry of `dir`.
  void watch_directory(const std::string& dir);

  /// Blocks until something watched changes or `token` fires, then waits until nothing changed
  /// for `settle` (a compiler or an editor writes a file in several steps). Returns the changed
  /// paths, sorted; empty when cancelled.
  std::vector<std::string> wait(const CancelToken& token, Millis settle);

 private:
  int add_dir(const std::string& dir);
  /// Reads pending events into `changed`; false when there were none.
  bool drain(std::set<std::string>& changed);

  int fd_ = -1;
  std::string error_;
  std::map<int, std::string> dirs_;             ///< watch descriptor -> directory
  std::map<int, std::set<std::string>> files_;  ///< watch descriptor -> file names of interest (empty: all)
  std::set<int> whole_dirs_;                    ///< descriptors watched for every entry
};

}  // namespace am2z
