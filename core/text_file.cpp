#include "core/text_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace am2z {

namespace {

/// Closes a descriptor on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory";
  if (S_ISFIFO(mode)) return "is a FIFO, not a regular file";
  if (S_ISCHR(mode)) return "is a character device, not a regular file";
  if (S_ISBLK(mode)) return "is a block device, not a regular file";
  if (S_ISSOCK(mode)) return "is a socket, not a regular file";
  return "is not a regular file";
}

std::string too_big(std::size_t max_bytes) { return "is larger than the limit of " + format_bytes(max_bytes); }

/// `doing` is "opened" or "read": "cannot be opened: Permission denied".
std::string system_reason(int error, const char* doing) {
  if (error == ENOENT) return "does not exist";
  if (error == ENOTDIR) return "does not exist (a part of the path is not a directory)";
  if (error == EISDIR) return "is a directory";
  return std::string("cannot be ") + doing + ": " + std::strerror(error);
}

}  // namespace

std::expected<std::string, FileProblem> read_stream(int fd, std::size_t max_bytes) {
  std::string out;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(FileProblem{system_reason(errno, "read")});
    }
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) return std::unexpected(FileProblem{too_big(max_bytes)});
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

std::expected<std::string, FileProblem> read_text_file(const std::string& path, std::size_t max_bytes,
                                                       FileKinds kinds) {
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever. It is harmless
  // for a regular file, the only kind read below.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return std::unexpected(FileProblem{system_reason(errno, "opened")});
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(FileProblem{system_reason(errno, "opened")});
  if (S_ISFIFO(st.st_mode) && kinds == FileKinds::regular_or_pipe) {
    // Blocking reads from here: a writer that is there is waited for; with none, read() says EOF.
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
      return std::unexpected(FileProblem{system_reason(errno, "read")});
    }
    return read_stream(fd.get(), max_bytes);
  }
  if (!S_ISREG(st.st_mode)) return std::unexpected(FileProblem{kind_of(st.st_mode)});
  if (st.st_size > 0 && static_cast<std::size_t>(st.st_size) > max_bytes) {
    return std::unexpected(FileProblem{too_big(max_bytes)});
  }
  // Read with the limit anyway: the file may grow, and /proc files report size 0.
  return read_stream(fd.get(), max_bytes);
}

std::string format_bytes(std::size_t bytes) {
  constexpr std::size_t kKiB = 1024;
  constexpr std::size_t kMiB = kKiB * 1024;
  if (bytes >= kMiB && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  if (bytes >= kKiB && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + " KiB";
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

}  // namespace am2z
