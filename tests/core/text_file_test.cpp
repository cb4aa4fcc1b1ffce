// Reading files named from outside: regular files only, within a limit, never blocking.
#include "core/text_file.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace am2z;

namespace {

/// A fresh directory under /tmp, removed at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/am2z_text_file_XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path + "/" + name, std::ios::binary) << text;
    return path + "/" + name;
  }
};

std::string reason_for(const std::string& path, std::size_t max = 1024) {
  auto r = read_text_file(path, max);
  REQUIRE_FALSE(r);
  return r.error().reason;
}

}  // namespace

TEST_CASE("a regular file within the limit is read whole, NUL bytes included") {
  TempDir dir;
  const std::string text("a\0b\nc", 5);
  auto r = read_text_file(dir.write("f", text), 5);
  REQUIRE(r);
  CHECK(*r == text);
  auto empty = read_text_file(dir.write("empty", ""), 5);
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("missing files, directories and files over the limit are named plainly") {
  TempDir dir;
  CHECK(reason_for(dir.path + "/nope") == "does not exist");
  CHECK(reason_for(dir.path + "/nope/deeper") == "does not exist");
  CHECK(reason_for(dir.write("file", "x") + "/below") ==
        "does not exist (a part of the path is not a directory)");
  CHECK(reason_for(dir.path) == "is a directory");
  CHECK(reason_for(dir.write("big", std::string(1025, 'x'))) == "is larger than the limit of 1 KiB");
}

TEST_CASE("devices and FIFOs are refused at once, without reading") {
  CHECK(reason_for("/dev/zero") == "is a character device, not a regular file");
  CHECK(reason_for("/dev/urandom") == "is a character device, not a regular file");
  TempDir dir;
  const std::string fifo = dir.path + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto start = std::chrono::steady_clock::now();
  CHECK(reason_for(fifo) == "is a FIFO, not a regular file");  // no writer: a blocking open would hang here
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE("inputs may be pipes: one with a writer is read, a FIFO without one reads as empty") {
  TempDir dir;
  const std::string fifo = dir.path + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto lonely = read_text_file(fifo, 1024, FileKinds::regular_or_pipe);
  REQUIRE(lonely);
  CHECK(lonely->empty());
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "{}", 2) == 2);
  ::close(fds[1]);
  auto piped = read_text_file("/proc/self/fd/" + std::to_string(fds[0]), 1024, FileKinds::regular_or_pipe);
  ::close(fds[0]);
  REQUIRE(piped);
  CHECK(*piped == "{}");
  CHECK(read_text_file("/dev/zero", 1024, FileKinds::regular_or_pipe).error().reason ==
        "is a character device, not a regular file");
}

TEST_CASE("files that report size 0 but have content are still bounded") {
  // /proc files have st_size 0; the limit holds while reading.
  auto r = read_text_file("/proc/self/status", 16);
  REQUIRE_FALSE(r);
  CHECK(r.error().reason == "is larger than the limit of 16 bytes");
}

TEST_CASE("read_stream stops at the limit") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "0123456789", 10) == 10);
  ::close(fds[1]);
  auto r = read_stream(fds[0], 9);
  ::close(fds[0]);
  REQUIRE_FALSE(r);
  CHECK(r.error().reason == "is larger than the limit of 9 bytes");
}

TEST_CASE("format_bytes") {
  CHECK(format_bytes(kMaxFlowFileBytes) == "8 MiB");
  CHECK(format_bytes(kMaxInputBytes) == "16 MiB");
  CHECK(format_bytes(2048) == "2 KiB");
  CHECK(format_bytes(1500) == "1500 bytes");
  CHECK(format_bytes(1) == "1 byte");
}
