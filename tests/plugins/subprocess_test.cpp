#include "plugins/subprocess.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "plugin_harness.hpp"
#include "process_probe.hpp"

using namespace am2z;

namespace {

SubprocessOptions sh(const std::string& script) {
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", script};
  return o;
}

SubprocessResult run_ok(const SubprocessOptions& o) {
  auto r = run_subprocess(o);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  return std::move(*r);
}

}  // namespace

TEST_CASE("subprocess: exit code, stdout and stderr are reported") {
  auto r = run_ok(sh("echo out; echo err >&2; exit 3"));
  CHECK(r.exit_code == 3);
  CHECK(r.term_signal == 0);
  CHECK(r.out == "out\n");
  CHECK(r.err_tail == "err\n");
  CHECK_FALSE(r.killed);
  CHECK_FALSE(r.succeeded());
  CHECK(run_ok(sh("true")).succeeded());
  CHECK(live_subprocess_count() == 0);
}

TEST_CASE("subprocess: a terminating signal is reported as such") {
  auto r = run_ok(sh("kill -USR1 $$"));
  CHECK(r.exit_code == -1);
  CHECK(r.term_signal == SIGUSR1);
  CHECK_FALSE(r.killed);
}

TEST_CASE("subprocess: only the last bytes of stderr are kept") {
  auto o = sh("head -c 10000 /dev/zero | tr '\\0' x >&2; printf END >&2");
  auto r = run_ok(o);
  CHECK(r.err_tail.size() == 4096);
  CHECK(r.err_tail.ends_with("xxxEND"));
  o.stderr_tail = 10;
  CHECK(run_ok(o).err_tail == "xxxxxxxEND");
}

TEST_CASE("subprocess: 20 MB each way through cat does not deadlock") {
  std::string input(20 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>('a' + i % 26);
  SubprocessOptions o;
  o.argv = {"cat"};
  o.input = input;
  auto r = run_ok(o);
  CHECK(r.succeeded());
  CHECK(r.out.size() == input.size());
  CHECK(r.out == input);
}

TEST_CASE("subprocess: stdout and stderr both large while stdin is still being written") {
  // Writes 5 MB to each output before reading any input: a sequential pump would deadlock.
  auto o = sh("head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2; cat >/dev/null; echo done >&2");
  o.input = std::string(5'000'000, 'i');
  auto r = run_ok(o);
  CHECK(r.succeeded());
  CHECK(r.out.size() == 5'000'000);
  CHECK(r.err_tail.ends_with("done\n"));
}

TEST_CASE("subprocess: a child that closes stdin early costs no SIGPIPE") {
  auto o = sh("head -c 1 >/dev/null; echo read-one");
  o.input = std::string(8 * 1024 * 1024, 'x');
  auto r = run_ok(o);
  CHECK(r.succeeded());
  CHECK(r.out == "read-one\n");
  sigset_t pending;
  sigpending(&pending);
  CHECK_FALSE(sigismember(&pending, SIGPIPE));
}

TEST_CASE("subprocess: spawn errors are distinct") {
  SubprocessOptions o;
  o.argv = {"am2z-no-such-program-anywhere"};
  auto r = run_subprocess(o);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == SpawnErrorKind::not_found);
  CHECK(r.error().message.find("am2z-no-such-program-anywhere") != std::string::npos);

  o.argv = {"/nonexistent/dir/prog"};
  r = run_subprocess(o);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == SpawnErrorKind::not_found);

  test::TempDir dir;
  std::ofstream(dir.file("script.sh")) << "#!/bin/sh\necho hi\n";
  ::chmod(dir.file("script.sh").c_str(), 0644);
  o.argv = {dir.file("script.sh")};
  r = run_subprocess(o);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == SpawnErrorKind::not_executable);
  CHECK(r.error().message.find("not executable") != std::string::npos);

  ::chmod(dir.file("script.sh").c_str(), 0755);
  CHECK(run_ok(o).out == "hi\n");

  // A relative program path is resolved in the working directory it runs in.
  o.argv = {"./script.sh"};
  o.cwd = dir.path();
  CHECK(run_ok(o).out == "hi\n");

  o.cwd = dir.file("missing");
  r = run_subprocess(o);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == SpawnErrorKind::bad_cwd);

  o.argv = {};
  CHECK(run_subprocess(o).error().kind == SpawnErrorKind::other);
}

TEST_CASE("subprocess: cwd, environment additions and overrides") {
  test::TempDir dir;
  ::setenv("AM2Z_TEST_INHERITED", "kept", 1);
  ::setenv("AM2Z_TEST_OVERRIDDEN", "old", 1);
  auto o = sh("printf '%s|%s|%s|%s' \"$(pwd)\" \"$AM2Z_TEST_INHERITED\" \"$AM2Z_TEST_OVERRIDDEN\" \"$NEW_ONE\"");
  o.cwd = dir.path();
  o.env = {{"AM2Z_TEST_OVERRIDDEN", "first"}, {"NEW_ONE", "n1"}, {"AM2Z_TEST_OVERRIDDEN", "new"}};
  CHECK(run_ok(o).out == dir.path() + "|kept|new|n1");
}

TEST_CASE("subprocess: the child inherits no descriptor besides 0, 1 and 2") {
  int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  REQUIRE(leaked >= 0);
  REQUIRE(::dup2(leaked, 100) == 100);
  auto r = run_ok(sh("for fd in 100 $(seq 3 20); do [ -e /proc/$$/fd/$fd ] && echo $fd; done; true"));
  ::close(100);
  ::close(leaked);
  CHECK(r.out == "");
}

TEST_CASE("subprocess: the child runs in its own process group with a clean signal state") {
  auto r = run_ok(sh("cut -d' ' -f5 /proc/$$/stat; echo $$"));
  std::istringstream lines(r.out.str());
  std::string pgid, pid;
  std::getline(lines, pgid);
  std::getline(lines, pid);
  CHECK(pgid == pid);

  // grep itself, started by us without a shell in between, reports its own signal state.
  SubprocessOptions o;
  o.argv = {"grep", "-E", "^(SigBlk|SigIgn)", "/proc/self/status"};
  r = run_ok(o);
  std::istringstream status(r.out.str());
  std::string blk, ign;
  std::getline(status, blk);
  std::getline(status, ign);
  REQUIRE(blk.starts_with("SigBlk:"));
  REQUIRE(ign.starts_with("SigIgn:"));
  CHECK(std::stoull(blk.substr(7), nullptr, 16) == 0);
  // SIGPIPE is signal 13 (bit 0x1000): at its default in the child even if the host ignores it.
  auto previous = ::signal(SIGPIPE, SIG_IGN);
  r = run_ok(o);
  ::signal(SIGPIPE, previous);
  status = std::istringstream(r.out.str());
  std::getline(status, blk);
  std::getline(status, ign);
  CHECK((std::stoull(ign.substr(7), nullptr, 16) & 0x1000) == 0);
}

TEST_CASE("subprocess: the deadline sends SIGTERM to the group") {
  auto o = sh("sleep 5");
  o.deadline = SteadyClock::now() + Millis(200);
  auto start = SteadyClock::now();
  auto r = run_ok(o);
  CHECK(test::elapsed_ms(start) >= 190);
  CHECK(test::elapsed_ms(start) < 1500);
  CHECK(r.timed_out);
  CHECK(r.killed);
  CHECK_FALSE(r.cancelled);
  CHECK(r.term_signal == SIGTERM);
  CHECK(live_subprocess_count() == 0);
}

TEST_CASE("subprocess: an already passed deadline or fired token starts nothing") {
  auto o = sh("exit 0");
  o.deadline = SteadyClock::now() - Millis(1);
  auto r = run_ok(o);
  CHECK(r.timed_out);
  CHECK_FALSE(r.killed);
  CancelSource src;
  src.cancel("stop");
  CancelToken tok = src.token();
  o.deadline = kNoDeadline;
  o.cancel = &tok;
  r = run_ok(o);
  CHECK(r.cancelled);
  CHECK_FALSE(r.killed);
}

TEST_CASE("subprocess: cancellation escalates to SIGKILL after the grace for a program ignoring SIGTERM") {
  CancelSource src;
  CancelToken tok = src.token();
  auto o = sh("trap '' TERM; sleep 5 & wait; sleep 5");
  o.cancel = &tok;
  o.kill_grace = Millis(300);
  std::thread canceller([&] {
    std::this_thread::sleep_for(Millis(100));
    src.cancel("interrupted");
  });
  auto start = SteadyClock::now();
  auto r = run_ok(o);
  canceller.join();
  auto took = test::elapsed_ms(start);
  CHECK(took >= 390);
  CHECK(took < 1500);
  CHECK(r.cancelled);
  CHECK(r.killed);
  CHECK(r.term_signal == SIGKILL);
}

TEST_CASE("subprocess: cancellation kills the processes the program forked") {
  test::TempDir dir;
  CancelSource src;
  CancelToken tok = src.token();
  // The grandchild ignores SIGTERM and keeps stdout open: only a group-wide SIGKILL ends it.
  auto o = sh("(trap '' TERM; exec sleep 30) & echo $! > '" + dir.file("pid") + "'; sleep 30");
  o.cancel = &tok;
  o.kill_grace = Millis(200);
  std::thread canceller([&] {
    for (int i = 0; i < 200 && test::read_text(dir.file("pid")).empty(); ++i) std::this_thread::sleep_for(Millis(10));
    src.cancel("stop");
  });
  auto start = SteadyClock::now();
  auto r = run_ok(o);
  canceller.join();
  CHECK(test::elapsed_ms(start) < 1500);
  CHECK(r.cancelled);
  auto grandchild = static_cast<pid_t>(std::stol(test::read_text(dir.file("pid"))));
  CHECK(test::becomes_gone(grandchild));
}

TEST_CASE("subprocess: a background process holding stdout does not keep us waiting") {
  auto o = sh("sleep 30 & echo $!");
  auto start = SteadyClock::now();
  auto r = run_ok(o);
  CHECK(test::elapsed_ms(start) < 1000);
  CHECK(r.succeeded());
  auto straggler = static_cast<pid_t>(std::stol(r.out.str()));
  CHECK(test::becomes_gone(straggler));
}

TEST_CASE("subprocess: kill_all_subprocesses kills live groups and refuses new ones") {
  // It is final for the process, so it runs in a forked copy of this test binary.
  std::cout.flush();
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 0;
    std::expected<SubprocessResult, SpawnError> result;
    std::thread runner([&] { result = run_subprocess(sh("sleep 30")); });
    for (int i = 0; i < 300 && live_subprocess_count() == 0; ++i) std::this_thread::sleep_for(Millis(10));
    if (live_subprocess_count() != 1) code = 10;
    kill_all_subprocesses();
    runner.join();
    if (!result || result->term_signal != SIGKILL) code = code ? code : 11;
    auto later = run_subprocess(sh("true"));
    if (later || later.error().kind != SpawnErrorKind::shutting_down) code = code ? code : 12;
    if (live_subprocess_count() != 0) code = code ? code : 13;
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
