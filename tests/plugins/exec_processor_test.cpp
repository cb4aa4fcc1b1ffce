#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "plugin_harness.hpp"
#include "plugins/exec_params.hpp"
#include "process_probe.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace exec_processor_test {

using namespace am2z;

namespace {

std::unique_ptr<Processor> exec(const Json& with) {
  auto p = test::create("exec", with);
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  return std::move(*p);
}

std::unique_ptr<Processor> sh(const std::string& script, Json extra = Json::object()) {
  extra["argv"] = Json::array({"/bin/sh", "-c", script});
  return exec(extra);
}

State sample() { return State::create("sess-1", Json{{"x", 1}, {"name", "ada"}}); }

/// Runs `p` and checks that a failure left the state exactly as it was.
Status run(const Processor& p, State& state, test::Harness& h) {
  Json before = state.to_json();
  auto st = p.process(state, h.ctx);
  if (!st) CHECK(state.to_json() == before);
  return st;
}

}  // namespace

TEST_CASE("exec: the state goes in as JSON with metadata, stdout JSON becomes the data") {
  test::Harness h;
  State s = sample();
  auto p = exec({{"argv", Json::array({"python3", "-c",
                                       "import json,sys\n"
                                       "s = json.load(sys.stdin)\n"
                                       "s['x'] += 1\n"
                                       "s['sid'] = s['metadata']['sessionId']\n"
                                       "s['version'] = s['metadata']['version']\n"
                                       "print(json.dumps(s))\n"})}});
  REQUIRE(p->process(s, h.ctx));
  CHECK(s.data == Json{{"x", 2}, {"name", "ada"}, {"sid", "sess-1"}, {"version", 1}});
  CHECK(s.meta.session_id == "sess-1");
}

TEST_CASE("exec: stdin is exactly State::to_json()") {
  test::TempDir dir;
  test::Harness h;
  for (const Json& data : {Json::object(), Json{{"a", 1}, {"z", {{"nested", "é"}}}}}) {
    State s = State::create("sess-1", data);
    s.meta.version = 4;
    REQUIRE(sh("cat > '" + dir.file("stdin.json") + "'")->process(s, h.ctx));
    CHECK(Json::parse(test::read_text(dir.file("stdin.json"))) == s.to_json());
  }
}

TEST_CASE("exec: a metadata key in stdout is dropped; the engine owns metadata") {
  test::Harness h;
  State s = sample();
  REQUIRE(
      sh("cat >/dev/null; echo '{\"a\":1,\"metadata\":{\"version\":99,\"sessionId\":\"evil\"}}'")->process(s, h.ctx));
  CHECK(s.data == Json{{"a", 1}});
  CHECK(s.meta.version == 1);
  CHECK(s.meta.session_id == "sess-1");
}

TEST_CASE("exec: empty or whitespace-only stdout leaves the state unchanged") {
  test::Harness h;
  for (const char* script : {"cat >/dev/null", "cat >/dev/null; printf '  \\n\\t\\n'", "true"}) {
    CAPTURE(script);
    State s = sample();
    REQUIRE(sh(script)->process(s, h.ctx));
    CHECK(s.data == sample().data);
  }
}

TEST_CASE("exec: 20 MB of state each way") {
  test::Harness h;
  State s = State::create("sess-1", Json{{"blob", std::string(20 * 1024 * 1024, 'b')}});
  auto p = exec({{"argv", Json::array({"python3", "-c",
                                       "import json,sys\n"
                                       "s = json.load(sys.stdin)\n"
                                       "del s['metadata']\n"
                                       "s['len'] = len(s['blob'])\n"
                                       "s['copy'] = s['blob'].upper()\n"
                                       "json.dump(s, sys.stdout)\n"})}});
  REQUIRE(p->process(s, h.ctx));
  CHECK(s.data["len"] == 20 * 1024 * 1024);
  CHECK(s.data["copy"].get_ref<const std::string&>() == std::string(20 * 1024 * 1024, 'B'));
}

TEST_CASE("exec: stdout beyond max_output stops the program and fails, not retryable") {
  test::Harness h;
  State s = sample();
  const auto t0 = SteadyClock::now();
  auto st = run(*sh("cat >/dev/null; exec yes", {{"max_output", "100KiB"}}), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "RESOURCE_EXHAUSTED");
  CHECK_FALSE(st.error().retryable);
  CHECK(st.error().message == "stdout of '/bin/sh' exceeded the 100 KiB limit (max_output); the program was stopped");
  CHECK(SteadyClock::now() - t0 < std::chrono::seconds(5));  // `yes` never ends on its own

  REQUIRE(run(*sh("cat >/dev/null; echo '{\"ok\": true}'", {{"max_output", 100000}}), s, h));
  CHECK(s.data["ok"] == true);
}

TEST_CASE("exec: stdout is limited to 64 MiB unless the step says otherwise") {
  test::Harness h;
  State s = sample();
  const std::string just_over =
      "cat >/dev/null; printf '{\"a\":\"'; head -c 67108860 /dev/zero | tr '\\0' a; echo '\"}'";
  auto st = run(*sh(just_over), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().message == "stdout of '/bin/sh' exceeded the 64 MiB limit (max_output); the program was stopped");
  REQUIRE(run(*sh(just_over, {{"max_output", "65MiB"}}), s, h));
  CHECK(s.data["a"].get_ref<const std::string&>().size() == 67108860);
}

TEST_CASE("exec: max_output takes bytes or a size with a unit") {
  for (const auto& [given, bytes] : std::initializer_list<std::pair<Json, std::size_t>>{{1, 1},
                                                                                        {"4096", 4096},
                                                                                        {"4096B", 4096},
                                                                                        {"512KiB", 512 * 1024},
                                                                                        {"64MiB", 64u << 20},
                                                                                        {"64 MiB", 64u << 20},
                                                                                        {"2GiB", 2ull << 30},
                                                                                        {"500kB", 500000},
                                                                                        {"100MB", 100000000},
                                                                                        {"1 GB", 1000000000}}) {
    CAPTURE(given);
    auto size = read_byte_size(given, "max_output");
    REQUIRE(size);
    CHECK(*size == bytes);
    CHECK(test::create("exec", {{"argv", {"true"}}, {"max_output", given}}));
  }
  for (const Json& bad :
       {Json(0), Json(-5), Json(""), Json("0MiB"), Json("64 mb"), Json("64MiBs"), Json("MiB"), Json(" 64MiB"),
        Json("1.5GiB"), Json("99999999999999999999"), Json("17179869184GiB"), Json(true), Json::array({64})}) {
    CAPTURE(bad);
    CHECK(test::rejected_field("exec", {{"argv", {"true"}}, {"max_output", bad}}) == "max_output");
  }
  auto e = read_byte_size("64 mb", "max_output");
  REQUIRE_FALSE(e);
  CHECK(e.error().message.find("must be a size such as 64MiB, 512KiB, 100MB or a number of bytes") !=
        std::string::npos);
  CHECK(read_byte_size("17179869184GiB", "max_output").error().message.find("is too large") != std::string::npos);
  CHECK(byte_size_text(64u << 20) == "64 MiB");
  CHECK(byte_size_text(3ull << 30) == "3 GiB");
  CHECK(byte_size_text(1536) == "1536 bytes");
  CHECK(byte_size_text(1) == "1 byte");
}

TEST_CASE("exec: stdout nested deeper than the JSON limit fails instead of overflowing the stack") {
  test::Harness h;
  State s = sample();
  auto st = run(*exec({{"argv", Json::array({"python3", "-c",
                                             "import sys; sys.stdin.read(); "
                                             "print('{\"a\":' + '[' * 100000 + ']' * 100000 + '}')"})}}),
                s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("is not JSON (nested deeper than 512 levels at line 1, column 517): {\"a\":[[[") !=
        std::string::npos);
}

TEST_CASE("exec: a number out of range in stdout fails the step with a clear message") {
  test::Harness h;
  State s = sample();
  auto st = run(*sh("cat >/dev/null; echo '{\"a\": 1e400}'"), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "PROCESSOR_EXECUTION_FAILED");
  CHECK(st.error().message.find("stdout of '/bin/sh' is not JSON (number out of range") != std::string::npos);
  CHECK(st.error().context["stdout"] == "{\"a\": 1e400}");
}

TEST_CASE("exec: stdout that is not JSON, or not an object, fails quoting its start") {
  test::Harness h;
  State s = sample();
  auto st = run(*sh("cat >/dev/null; echo 'this is not json'"), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "PROCESSOR_EXECUTION_FAILED");
  CHECK(st.error().message.find("stdout of '/bin/sh' is not JSON (parse error at line 1, column 2: syntax error") !=
        std::string::npos);
  CHECK(st.error().message.ends_with("): this is not json"));

  st = run(*sh("cat >/dev/null; echo '[1, 2]'"), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("must be a JSON object, not array: [1, 2]") != std::string::npos);

  st = run(*sh("cat >/dev/null; head -c 1000 /dev/zero | tr '\\0' y"), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find(std::string(200, 'y') + "...") != std::string::npos);
  CHECK(st.error().message.find(std::string(201, 'y')) == std::string::npos);

  // Invalid UTF-8 from a program must not break the error's JSON form.
  st = run(*sh("cat >/dev/null; printf '\\377\\376 bad'"), s, h);
  REQUIRE_FALSE(st);
  CHECK_NOTHROW((void)st.error().to_json().dump());
}

TEST_CASE("exec: a non-zero exit fails with the code and the tail of stderr") {
  test::Harness h;
  State s = sample();
  auto st =
      run(*sh("cat >/dev/null; echo '{\"x\":5}'; echo 'first line' >&2; echo 'boom: disk full' >&2; exit 7"), s, h);
  REQUIRE_FALSE(st);
  const Error& e = st.error();
  CHECK(e.name == "ProcessorExecutionError");
  CHECK(e.category == ErrorCategory::execution);
  CHECK(e.message.find("exited with code 7") != std::string::npos);
  CHECK(e.message.find("boom: disk full") != std::string::npos);
  CHECK(e.context["exitCode"] == 7);
  CHECK(e.context["stderr"] == "first line\nboom: disk full\n");
  CHECK(s.data["x"] == 1);

  st = run(*sh("cat >/dev/null; head -c 20000 /dev/zero | tr '\\0' e >&2; echo LAST-LINE >&2; exit 1"), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("LAST-LINE") != std::string::npos);
  CHECK(st.error().message.size() < 1500);
  CHECK(st.error().context["stderr"].get<std::string>().size() == 4096);

  st = run(*sh("kill -USR1 $$"), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("killed by signal 10 (SIGUSR1)") != std::string::npos);
  CHECK(st.error().context["exitCode"].is_null());
  CHECK(st.error().context["signal"] == 10);
}

TEST_CASE("exec: a missing or non-executable program fails naming it") {
  test::Harness h;
  State s = sample();
  auto st = run(*exec({{"argv", Json::array({"am2z-no-such-program-anywhere", "--flag"})}}), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("'am2z-no-such-program-anywhere': not found") != std::string::npos);
  CHECK_FALSE(st.error().retryable);
  CHECK(st.error().context["reason"] == "not found");

  test::TempDir dir;
  std::ofstream(dir.file("tool")) << "#!/bin/sh\necho '{}'\n";
  ::chmod(dir.file("tool").c_str(), 0644);
  st = run(*exec({{"argv", Json::array({dir.file("tool")})}}), s, h);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("'" + dir.file("tool") + "': not executable") != std::string::npos);
  CHECK_FALSE(st.error().retryable);
}

TEST_CASE("exec: cwd, env and the AM2Z_* variables reach the program") {
  test::TempDir dir;
  test::Harness h(kNoDeadline, 3);
  State s = sample();
  auto p =
      sh("cat >/dev/null; printf "
         "'{\"pwd\":\"%s\",\"foo\":\"%s\",\"port\":\"%s\",\"sid\":\"%s\",\"eid\":\"%s\",\"att\":\"%s\"}' "
         "\"$(pwd)\" \"$FOO\" \"$PORT\" \"$AM2Z_SESSION_ID\" \"$AM2Z_EXECUTION_ID\" \"$AM2Z_ATTEMPT\"",
         {{"cwd", dir.path()}, {"env", {{"FOO", "bar baz"}, {"PORT", 8080}, {"AM2Z_ATTEMPT", "faked"}}}});
  REQUIRE(p->process(s, h.ctx));
  CHECK(s.data == Json{{"pwd", dir.path()},
                       {"foo", "bar baz"},
                       {"port", "8080"},
                       {"sid", "sess-1"},
                       {"eid", "run-1/7"},
                       {"att", "3"}});
}

TEST_CASE("exec: the deadline kills the program and fails with a timeout") {
  test::Harness h(SteadyClock::now() + Millis(300));
  State s = sample();
  auto start = SteadyClock::now();
  auto st = run(*sh("sleep 10"), s, h);
  CHECK(test::elapsed_ms(start) < 1500);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "OPERATION_TIMEOUT");
  CHECK(st.error().context["timeoutMs"].get<long long>() > 100);
  CHECK(st.error().context["timeoutMs"].get<long long>() <= 300);
}

TEST_CASE("exec: cancellation SIGKILLs a program ignoring SIGTERM after kill_grace, with its children") {
  test::TempDir dir;
  test::Harness h;
  State s = sample();
  auto p = sh("trap '' TERM; (exec sleep 30) & echo $! > '" + dir.file("pid") + "'; wait; sleep 30",
              {{"kill_grace", "300ms"}});
  std::thread canceller([&] {
    for (int i = 0; i < 200 && test::read_text(dir.file("pid")).empty(); ++i) std::this_thread::sleep_for(Millis(10));
    std::this_thread::sleep_for(Millis(50));
    h.source.cancel("interrupted by test");
  });
  auto start = SteadyClock::now();
  auto st = run(*p, s, h);
  canceller.join();
  auto took = test::elapsed_ms(start);
  CHECK(took >= 300);
  CHECK(took < 1500);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == "CANCELLED");
  CHECK(st.error().message.find("interrupted by test") != std::string::npos);
  CHECK(test::becomes_gone(static_cast<pid_t>(std::stol(test::read_text(dir.file("pid"))))));
}

TEST_CASE("exec: parameters are validated with the field inside `with`") {
  CHECK(test::rejected_field("exec", Json::object()) == "argv");
  CHECK(test::rejected_field("exec", nullptr) == "argv");
  CHECK(test::rejected_field("exec", {{"argv", Json::array()}}) == "argv");
  CHECK(test::rejected_field("exec", {{"argv", "echo hi"}}) == "argv");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh", 3})}}) == "argv[1]");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({""})}}) == "argv[0]");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh"})}, {"env", {{"A", Json::array({1})}}}}) == "env.A");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh"})}, {"env", {{"A=B", "x"}}}}) == "env.A=B");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh"})}, {"env", "A=1"}}) == "env");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh"})}, {"cwd", ""}}) == "cwd");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh"})}, {"kill_grace", "soon"}}) == "kill_grace");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh"})}, {"kill_grace", -1}}) == "kill_grace");
  CHECK(test::create("exec",
                     {{"argv", Json::array({"sh", ""})}, {"kill_grace", 500}, {"env", Json::object()}, {"cwd", "/"}}));
}

}  // namespace exec_processor_test
