#pragma once
// Reading files named from outside (flow files, includes, -i inputs) without surprises: only
// regular files, never more than a limit, never blocking on a FIFO or a device.
#include <cstddef>
#include <expected>
#include <string>

namespace am2z {

/// Flow files (main and included) may hold at most this many bytes: real flows are a few KB, and
/// a YAML tree costs about 500 bytes of memory per value.
inline constexpr std::size_t kMaxFlowFileBytes = std::size_t{8} << 20;
/// A run's input JSON (-i FILE or stdin) may hold at most this many bytes.
inline constexpr std::size_t kMaxInputBytes = std::size_t{16} << 20;

/// Why a file was not read, as a predicate for "<the file> ...": "does not exist", "is a directory",
/// "is a FIFO, not a regular file", "is larger than the limit of 8 MiB", "cannot be opened:
/// Permission denied".
struct FileProblem {
  std::string reason;
};

/// Which kinds of file a reader takes besides regular files.
enum class FileKinds {
  regular,          ///< flow files: a file on disk, nothing else
  regular_or_pipe,  ///< inputs: also a pipe or FIFO, so `-i <(jq ...)` works
};

/// The content of `path` when it is a regular file (or, if `kinds` allows, a pipe) of at most
/// `max_bytes` bytes. It is opened non-blocking and checked with fstat before any read, so a
/// directory, socket or device (/dev/zero, /dev/urandom) is refused at once instead of hanging or
/// growing memory without bound; a FIFO nobody writes to reads as empty rather than blocking.
std::expected<std::string, FileProblem> read_text_file(const std::string& path, std::size_t max_bytes,
                                                       FileKinds kinds = FileKinds::regular);

/// Everything readable from descriptor `fd` (stdin: a pipe or a file) up to `max_bytes`; more is
/// a problem, reported as soon as the limit is passed rather than after reading it all.
std::expected<std::string, FileProblem> read_stream(int fd, std::size_t max_bytes);

/// "8 MiB", "16 MiB", "512 KiB", "100 bytes": how limits read in messages.
std::string format_bytes(std::size_t bytes);

}  // namespace am2z
