// Nothing a program starts outlives run_subprocess, even what left its process group with setsid:
// the reaper behind every program (plugins/step_reaper.hpp).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "plugin_harness.hpp"
#include "plugins/subprocess.hpp"
#include "process_probe.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace step_reaper_test {

using namespace am2z;

namespace {

/// No process has this pid any more, not even a zombie.
bool no_such_process(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

/// A script that starts a daemon in a session of its own (it writes its pid to `pid_file`, and
/// would touch `mark` after 30 s), waits until it runs, then does `then`.
SubprocessOptions with_daemon(const test::TempDir& dir, const std::string& then, bool orphan = false) {
  const std::string daemon = "setsid sh -c 'echo $$ > " + dir.file("pid.tmp") + "; mv " + dir.file("pid.tmp") + " " +
                             dir.file("pid") + "; sleep 30; touch " + dir.file("mark") + "'";
  // In a subshell that exits at once, the daemon is orphaned: it is reparented, not killed.
  const std::string start = orphan ? "(" + daemon + " &)" : daemon + " &";
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", start + "\nwhile [ ! -s " + dir.file("pid") + " ]; do sleep 0.01; done; " + then};
  return o;
}

pid_t daemon_pid(const test::TempDir& dir) {
  const std::string text = test::read_text(dir.file("pid"));
  REQUIRE_FALSE(text.empty());
  return static_cast<pid_t>(std::stol(text));
}

SubprocessResult run_ok(const SubprocessOptions& o) {
  auto r = run_subprocess(o);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  return std::move(*r);
}

}  // namespace

TEST_CASE("reaper: a setsid daemon left by a program that succeeded is gone when it returns") {
  for (bool orphan : {false, true}) {
    CAPTURE(orphan);
    test::TempDir dir;
    auto r = run_ok(with_daemon(dir, "echo done", orphan));
    CHECK(r.succeeded());
    CHECK(r.out == "done\n");
    CHECK(no_such_process(daemon_pid(dir)));
    CHECK(live_subprocess_count() == 0);
  }
}

TEST_CASE("reaper: a setsid daemon is gone when the deadline stops the program") {
  test::TempDir dir;
  auto o = with_daemon(dir, "sleep 30");
  o.deadline = SteadyClock::now() + Millis(500);
  auto start = SteadyClock::now();
  auto r = run_ok(o);
  CHECK(test::elapsed_ms(start) < 2000);
  CHECK(r.timed_out);
  CHECK(no_such_process(daemon_pid(dir)));
}

TEST_CASE("reaper: a setsid daemon ignoring SIGTERM is gone when the token stops the program") {
  test::TempDir dir;
  CancelSource src;
  CancelToken tok = src.token();
  auto o = with_daemon(dir, "sleep 30");
  o.argv[2] = "trap '' TERM; " + o.argv[2];  // the daemon inherits the ignored SIGTERM
  o.cancel = &tok;
  o.kill_grace = Millis(200);
  std::thread canceller([&] {
    for (int i = 0; i < 300 && test::read_text(dir.file("pid")).empty(); ++i) std::this_thread::sleep_for(Millis(10));
    src.cancel("stop");
  });
  auto r = run_ok(o);
  canceller.join();
  CHECK(r.cancelled);
  CHECK(no_such_process(daemon_pid(dir)));
}

TEST_CASE("reaper: a step's daemons are its own; a concurrent step's live on until it ends") {
  test::TempDir short_dir;
  test::TempDir long_dir;
  std::expected<SubprocessResult, SpawnError> long_run;
  auto long_options = with_daemon(long_dir, "sleep 4");  // outlasts the short step even under TSan
  std::thread long_step([&] { long_run = run_subprocess(long_options); });
  for (int i = 0; i < 300 && test::read_text(long_dir.file("pid")).empty(); ++i)
    std::this_thread::sleep_for(Millis(10));
  auto r = run_ok(with_daemon(short_dir, "true"));
  CHECK(r.succeeded());
  CHECK(no_such_process(daemon_pid(short_dir)));
  CHECK_FALSE(no_such_process(daemon_pid(long_dir)));
  long_step.join();
  REQUIRE(long_run.has_value());
  CHECK(long_run->succeeded());
  CHECK(no_such_process(daemon_pid(long_dir)));
}

TEST_CASE("reaper: orphans that exit while the program runs do not pile up as zombies") {
  // $PPID is the reaper: once the short-lived orphans are reaped, the program is its only child.
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do (sh -c 'exit 0' &); done; sleep 0.3; "
            "echo $$; cat /proc/$PPID/task/$PPID/children"};
  auto r = run_ok(o);
  REQUIRE(r.succeeded());
  const std::string out = r.out.str();
  const auto nl = out.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(out.substr(nl + 1) == out.substr(0, nl) + " ");
}

TEST_CASE("reaper: when am2z itself is killed, the reaper kills what the program started") {
  test::TempDir dir;
  std::cout.flush();
  std::fflush(nullptr);
  pid_t copy = ::fork();  // a copy of this test binary plays am2z
  REQUIRE(copy >= 0);
  if (copy == 0) {
    std::thread runner([&] { [[maybe_unused]] auto r = run_subprocess(with_daemon(dir, "sleep 30")); });
    runner.join();
    ::_exit(0);
  }
  for (int i = 0; i < 500 && test::read_text(dir.file("pid")).empty(); ++i) std::this_thread::sleep_for(Millis(10));
  const pid_t daemon = daemon_pid(dir);
  ::kill(copy, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(copy, &status, 0) == copy);
  CHECK(test::becomes_gone(daemon));
}

TEST_CASE("reaper: kill_all_subprocesses reaches a setsid daemon too") {
  test::TempDir dir;
  std::cout.flush();
  std::fflush(nullptr);
  pid_t copy = ::fork();  // kill_all_subprocesses is final for the process
  REQUIRE(copy >= 0);
  if (copy == 0) {
    int code = 0;
    std::expected<SubprocessResult, SpawnError> result;
    std::thread runner([&] { result = run_subprocess(with_daemon(dir, "sleep 30")); });
    for (int i = 0; i < 500 && test::read_text(dir.file("pid")).empty(); ++i) std::this_thread::sleep_for(Millis(10));
    kill_all_subprocesses();
    runner.join();
    if (!result || result->term_signal != SIGKILL) code = 10;
    if (!test::read_text(dir.file("pid")).empty() && !no_such_process(daemon_pid(dir))) code = code ? code : 11;
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(copy, &status, 0) == copy);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace step_reaper_test
