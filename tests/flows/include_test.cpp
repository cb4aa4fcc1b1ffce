// include: other files' processors and sub-flows, relative paths, cycles, clashes, diagnostics
// that point into the included file.
#include <sys/stat.h>

#include <chrono>

#include "core/text_file.hpp"
#include "flows_test_support.hpp"

using namespace am2z;

TEST_CASE("included processors and sub-flows are usable, with their own file's defaults") {
  test::ScratchDir dir;
  const std::string main = dir.write("main.yaml", R"(version: 1
name: main
include: [lib/common.yaml]
processors:
  greet: {use: set, with: {values: {greeted: true}}}
flow: {chain: [greet, stamp, tax]}
)");
  dir.write("lib/common.yaml", R"(version: 1
include: [more.yaml]
defaults: {timeout: 5s}
processors:
  stamp: {use: set, with: {values: {stamped: true}}}
)");
  dir.write("lib/more.yaml", R"(version: 1
flows:
  tax: {chain: [{use: set, with: {values: {tax: 0.2}}}]}
flow: ignored-in-an-included-file
)");
  auto r = load_flow_file(main, test::builtin_registry());
  CHECK(test::run_ok(r) == Json::parse(R"({"greeted": true, "stamped": true, "tax": 0.2})"));
  CHECK(r.flow->processors.at("stamp")->policy.timeout == Millis(5000));
  CHECK_FALSE(r.flow->processors.at("greet")->policy.timeout);
}

TEST_CASE("a file included along two paths is read once") {
  test::ScratchDir dir;
  const std::string main = dir.write("main.yaml", R"(version: 1
name: main
include: [a.yaml, b.yaml]
flow: {chain: [from-a, from-b, shared]}
)");
  dir.write("a.yaml", "version: 1\ninclude: [shared.yaml]\nprocessors: {from-a: {use: set, with: {values: {a: 1}}}}\n");
  dir.write("b.yaml", "version: 1\ninclude: [shared.yaml]\nprocessors: {from-b: {use: set, with: {values: {b: 1}}}}\n");
  dir.write("shared.yaml", "version: 1\nprocessors: {shared: {use: set, with: {values: {s: 1}}}}\n");
  auto r = load_flow_file(main, test::builtin_registry());
  CHECK(test::run_ok(r) == Json::parse(R"({"a": 1, "b": 1, "s": 1})"));
}

TEST_CASE("include mistakes: cycles, missing files, clashes, and errors inside included files") {
  test::ScratchDir dir;
  const std::string main = dir.write("cyc_a.yaml", R"(version: 1
name: a
include: [cyc_b.yaml, missing.yaml]
processors:
  stamp: {use: log, with: {message: clash}}
flow: {flow: loop}
)");
  dir.write("cyc_b.yaml", R"(version: 1
include: [cyc_a.yaml]
processors:
  stamp: {use: set, with: {values: {a: 1}}}
  bad: {use: sleep, with: {duration: 5, extra: 1}}
flows:
  loop: {flow: loop2}
  loop2: {chain: [loop]}
)");
  auto r = load_flow_file(main, test::builtin_registry());
  const std::string a = dir.path() + "/cyc_a.yaml";
  const std::string b = dir.path() + "/cyc_b.yaml";
  CHECK(test::lines_of(r) == std::vector<std::string>{
                                 a + ":3:23: include[1]: cannot include '" + dir.path() +
                                     "/missing.yaml': it does not exist",
                                 a + ":5:3: processors.stamp: duplicate name 'stamp': already defined at " + b + ":4",
                                 b + ":2:11: include[0]: include cycle: cyc_a.yaml -> cyc_b.yaml -> cyc_a.yaml",
                                 b + ":5:48: processors.bad.with.extra: unknown key 'extra'; expected one of: duration",
                                 b + ":8:19: flows.loop2.chain[0]: sub-flow cycle: loop -> loop2 -> loop",
                             });
}

TEST_CASE("an included file that is not a flow file") {
  test::ScratchDir dir;
  const std::string main = dir.write(
      "main.yaml", "version: 1\nname: m\ninclude: [list.yaml, broken.yaml]\nflow: {use: log, with: {message: x}}\n");
  dir.write("list.yaml", "- a\n- b\n");
  dir.write("broken.yaml", "version: 1\nprocessors: {a: [\n");
  auto r = load_flow_file(main, test::builtin_registry());
  REQUIRE(r.diagnostics.size() == 2);
  CHECK(r.diagnostics[0].file == dir.path() + "/list.yaml");
  CHECK(r.diagnostics[0].message ==
        "expected an included flow file: a map with version, processors and flows, got a list");
  CHECK(r.diagnostics[1].file == dir.path() + "/broken.yaml");
  CHECK(r.diagnostics[1].line >= 2);
}

TEST_CASE("include: reads only regular flow files, within the size limit, without echoing others") {
  test::ScratchDir dir;
  REQUIRE(::mkfifo((dir.path() + "/pipe.yaml").c_str(), 0600) == 0);
  dir.write("secret.txt", "root:$6$hash:19000:0:99999:7:::\n");
  dir.write("settings.yaml", "password: hunter2\ntoken: abc\n");
  dir.write("notes.txt", "my private notes\nhunter2 is the password\n");
  {
    std::ofstream big(dir.path() + "/big.yaml");
    big << "version: 1\n";
  }
  std::filesystem::resize_file(dir.path() + "/big.yaml", kMaxFlowFileBytes + 1);
  std::filesystem::create_directory(dir.path() + "/lib");
  const std::string main = dir.write("main.yaml", R"(version: 1
name: m
include: [/dev/zero, /dev/urandom, lib, pipe.yaml, big.yaml, secret.txt, settings.yaml, notes.txt]
flow: {use: log, with: {message: x}}
)");
  const auto started = std::chrono::steady_clock::now();
  auto r = load_flow_file(main, test::builtin_registry());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));  // nothing blocked or read without end
  const std::string d = dir.path();
  CHECK(test::lines_of(r) ==
        std::vector<std::string>{
            main + ":3:11: include[0]: cannot include '/dev/zero': it is a character device, not a regular file",
            main + ":3:22: include[1]: cannot include '/dev/urandom': it is a character device, not a regular file",
            main + ":3:36: include[2]: cannot include '" + d + "/lib': it is a directory",
            main + ":3:41: include[3]: cannot include '" + d + "/pipe.yaml': it is a FIFO, not a regular file",
            main + ":3:52: include[4]: cannot include '" + d + "/big.yaml': it is larger than the limit of 8 MiB",
            d + "/secret.txt:1:1: expected an included flow file: a map with version, processors and flows, got a "
                "map without any of these keys",  // "root:...:::" ends in ':', a key
            d + "/settings.yaml:1:1: expected an included flow file: a map with version, processors and flows, got a "
                "map without any of these keys",
            d + "/notes.txt:1:1: expected an included flow file: a map with version, processors and flows, got a "
                "single value",
        });
  for (const auto& line : test::lines_of(r)) {
    CHECK(line.find("hunter2") == std::string::npos);
    CHECK(line.find("password") == std::string::npos);
    CHECK(line.find("$6$") == std::string::npos);
  }
}

TEST_CASE("include chains deeper than 32 files are refused") {
  test::ScratchDir dir;
  for (int i = 0; i < 40; ++i) {
    dir.write("f" + std::to_string(i) + ".yaml",
              "version: 1\ninclude: [f" + std::to_string(i + 1) + ".yaml]\nprocessors: {}\n");
  }
  dir.write("f40.yaml", "version: 1\n");
  const std::string main = dir.write("main.yaml", "version: 1\nname: m\ninclude: [f0.yaml]\nflow: {use: log, with: "
                                                  "{message: x}}\n");
  auto r = load_flow_file(main, test::builtin_registry());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].file == dir.path() + "/f31.yaml");
  CHECK(r.diagnostics[0].to_string() ==
        dir.path() + "/f31.yaml:2:11: include[0]: includes nested more than 32 files deep");
}
