#include "plugins/file_watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>

namespace am2z {

namespace {

constexpr std::uint32_t kEvents = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_MODIFY;

/// An eventfd written when the token fires, so poll wakes up for cancellation too.
struct Wake {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ~Wake() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

FileWatcher::FileWatcher() : fd_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
  if (fd_ < 0) error_ = std::string("inotify: ") + std::strerror(errno);
}

FileWatcher::~FileWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

int FileWatcher::add_dir(const std::string& dir) {
  if (fd_ < 0) return -1;
  int wd = ::inotify_add_watch(fd_, dir.c_str(), kEvents);
  if (wd >= 0) dirs_[wd] = dir;
  return wd;
}

void FileWatcher::watch_file(const std::string& path) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  int wd = add_dir(dir);
  if (wd >= 0) files_[wd].insert(p.filename().string());
}

void FileWatcher::watch_directory(const std::string& dir) {
  int wd = add_dir(dir);
  if (wd >= 0) whole_dirs_.insert(wd);
}

bool FileWatcher::drain(std::set<std::string>& changed) {
  alignas(inotify_event) char buf[16384];
  bool any = false;
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return any;
    for (ssize_t off = 0; off < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      auto dir = dirs_.find(event->wd);
      if (dir == dirs_.end() || event->len == 0) continue;
      const std::string name = event->name;
      auto files = files_.find(event->wd);
      const bool wanted = whole_dirs_.contains(event->wd) || (files != files_.end() && files->second.contains(name));
      if (!wanted) continue;
      changed.insert(dir->second + "/" + name);
      any = true;
    }
  }
}

std::vector<std::string> FileWatcher::wait(const CancelToken& token, Millis settle) {
  if (fd_ < 0) return {};
  Wake wake;
  const int wake_fd = wake.fd;
  auto registration = token.on_cancel([wake_fd] {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  });
  std::set<std::string> changed;
  int timeout = -1;  // block until the first change, then only until things settle
  for (;;) {
    if (token.cancelled()) return {};
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int rc = ::poll(fds, 2, timeout);
    if (rc < 0 && errno == EINTR) continue;
    if (token.cancelled()) return {};
    if (rc == 0) break;  // quiet for `settle`
    if (drain(changed)) timeout = static_cast<int>(settle.count());
  }
  return {changed.begin(), changed.end()};
}

}  // namespace am2z
