// FileWatcher: changes to watched files and directories wake it; cancellation does too.
#include "plugins/file_watcher.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <thread>

#include "plugin_harness.hpp"
#include "process_probe.hpp"

using namespace am2z;

namespace {

/// Writes `path` after `delay`, from another thread.
std::jthread write_later(std::string path, Millis delay) {
  return std::jthread([path = std::move(path), delay] {
    std::this_thread::sleep_for(delay);
    std::ofstream(path) << "changed\n";
  });
}

}  // namespace

TEST_CASE("file watcher: a watched file's change is reported; other files of its directory are not") {
  test::TempDir dir;
  std::ofstream(dir.file("flow.yaml")) << "a\n";
  FileWatcher watcher;
  REQUIRE(watcher.ok());
  watcher.watch_file(dir.file("flow.yaml"));
  CancelSource source;
  {
    auto other = write_later(dir.file("other.txt"), Millis(20));
    auto writer = write_later(dir.file("flow.yaml"), Millis(80));
    auto changed = watcher.wait(source.token(), Millis(50));
    CHECK(changed == std::vector<std::string>{dir.file("flow.yaml")});
  }
}

TEST_CASE("file watcher: a new file in a watched directory is reported, changes made before wait are queued") {
  test::TempDir dir;
  FileWatcher watcher;
  watcher.watch_directory(dir.path());
  std::ofstream(dir.file("new.so")) << "x";  // before wait: still seen
  CancelSource source;
  auto changed = watcher.wait(source.token(), Millis(50));
  CHECK(changed == std::vector<std::string>{dir.file("new.so")});
}

TEST_CASE("file watcher: cancellation ends the wait with nothing") {
  test::TempDir dir;
  FileWatcher watcher;
  watcher.watch_directory(dir.path());
  CancelSource source;
  std::jthread canceller([&] {
    std::this_thread::sleep_for(Millis(50));
    source.cancel("test");
  });
  const auto start = SteadyClock::now();
  CHECK(watcher.wait(source.token(), Millis(50)).empty());
  CHECK(test::elapsed_ms(start) < 2000);
}
