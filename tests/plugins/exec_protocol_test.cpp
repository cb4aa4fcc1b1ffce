// exec's protocol beyond the state: typed errors (exit 3 + {"error": ...}), event lines on stderr,
// and state values passed as argv or env only where the flow asks for them.
#include "plugins/exec_protocol.hpp"

#include <doctest/doctest.h>

#include "../core/test_support.hpp"
#include "plugin_harness.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace exec_protocol_test {

using namespace am2z;

namespace {

std::unique_ptr<Processor> sh(const std::string& script, Json extra = Json::object()) {
  extra["argv"] = Json::array({"/bin/sh", "-c", script});
  auto p = test::create("exec", extra);
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  return std::move(*p);
}

State sample() { return State::create("sess-1", Json{{"order", {{"id", "A-7"}, {"total", 12.5}}}, {"tags", {"x"}}}); }

}  // namespace

TEST_CASE("exec protocol: exit 3 with {\"error\": ...} on stdout is that typed error") {
  test::Harness h;
  State s = sample();
  auto p = sh(R"(cat >/dev/null; echo '{"error": {"code": "OUT_OF_STOCK", "message": "no BOOK-1 left",
              "retryable": true, "category": "business", "details": {"sku": "BOOK-1"}}}'; exit 3)");
  auto st = p->process(s, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().name == "BusinessError");
  CHECK(st.error().code == "OUT_OF_STOCK");
  CHECK(st.error().message == "no BOOK-1 left");
  CHECK(st.error().retryable);
  CHECK(st.error().context["details"] == Json{{"sku", "BOOK-1"}});
  CHECK(st.error().context["origin"] == "exec:/bin/sh");
  CHECK(s.data == sample().data);

  auto network = sh(R"(echo '{"error": {"code": "UPSTREAM", "message": "down", "category": "network"}}'; exit 3)");
  st = network->process(s, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().name == "NetworkError");
  CHECK(st.error().category == ErrorCategory::network);
  CHECK_FALSE(st.error().retryable);  // only when the program says so
}

TEST_CASE("exec protocol: exit 3 without an error object, or another code with one, is an ordinary failure") {
  test::Harness h;
  State s = sample();
  auto st = sh("echo oops >&2; exit 3")->process(s, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().name == "ProcessorExecutionError");
  CHECK(st.error().message.find("exited with code 3: oops") != std::string::npos);

  st = sh(R"(echo '{"error": {"code": "X", "message": "m"}}'; exit 1)")->process(s, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().name == "ProcessorExecutionError");
  CHECK(st.error().context["exitCode"] == 1);
}

TEST_CASE("exec protocol: ::am2z-event lines on stderr are custom events, other lines stay stderr") {
  auto sink = std::make_shared<test::CollectingSink>();
  test::Harness h;
  h.run.events = sink;
  State s = sample();
  auto p = sh(R"(cat >/dev/null
echo '::am2z-event {"event": "progress", "data": {"done": 1}}' >&2
echo 'plain diagnostics' >&2
echo '::am2z-event {"event": "done"}' >&2
echo '::am2z-event not json' >&2
printf '::am2z-event {"event": "last", "data": 3}' >&2
exit 1)");
  auto st = p->process(s, h.ctx);
  REQUIRE_FALSE(st);
  const std::string stderr_text = st.error().context["stderr"].get<std::string>();
  CHECK(stderr_text == "plain diagnostics\n");
  const auto events = sink->all();
  REQUIRE(events.size() == 3);
  CHECK(events[0]["event"] == "progress");
  CHECK(events[0]["data"] == Json{{"done", 1}});
  CHECK(events[0]["processor"] == "step");
  CHECK(events[1]["event"] == "done");
  CHECK(events[1]["data"].is_null());
  CHECK(events[2]["event"] == "last");
  CHECK(events[2]["data"] == 3);
}

TEST_CASE("exec protocol: parse_event and reported_error accept only their documented shapes") {
  CHECK(parse_event(R"({"event": "a", "data": [1]})")->data == Json::array({1}));
  CHECK_FALSE(parse_event(R"({"event": ""})"));
  CHECK_FALSE(parse_event(R"({"data": 1})"));
  CHECK_FALSE(parse_event("[1]"));
  CHECK(reported_error(R"({"error": {"code": "A"}})")->at("code") == "A");
  CHECK_FALSE(reported_error(R"({"error": {"code": "A"}, "other": 1})"));
  CHECK_FALSE(reported_error(R"({"error": "text"})"));
  CHECK_FALSE(reported_error("garbage"));
}

TEST_CASE("exec protocol: messages past the JSON limits are not messages, and nothing throws") {
  CHECK_FALSE(parse_event(R"({"event": "a", "data": 1e400})"));
  CHECK_FALSE(parse_event(R"({"event": "a", "data": )" + std::string(100000, '[')));
  CHECK_FALSE(reported_error(R"({"error": {"code": "A", "details": -1e999}})"));
  CHECK_FALSE(reported_error(R"({"error": )" + std::string(600, '[') + std::string(600, ']') + "}"));
}

TEST_CASE("exec protocol: {path: ...} passes state values as argv entries and env values") {
  test::Harness h;
  State s = sample();
  auto p = test::create(
      "exec",
      {{"argv", Json::array({"/bin/sh", "-c",
                             "cat >/dev/null; printf '{\"arg\":\"%s\",\"id\":\"%s\",\"total\":\"%s\","
                             "\"tags\":%s}' \"$1\" \"$ORDER_ID\" \"$TOTAL\" \"$TAGS\"",
                             "sh", Json{{"path", ".order.id"}}})},
       {"env",
        {{"ORDER_ID", {{"path", "order.id"}}}, {"TOTAL", {{"path", ".order.total"}}}, {"TAGS", {{"path", ".tags"}}}}}});
  REQUIRE(p);
  REQUIRE((*p)->process(s, h.ctx));
  CHECK(s.data == Json{{"arg", "A-7"}, {"id", "A-7"}, {"total", "12.5"}, {"tags", Json::array({"x"})}});
}

TEST_CASE("exec protocol: a state value that is missing fails before anything runs") {
  test::Harness h;
  State s = sample();
  auto p = test::create("exec", {{"argv", Json::array({"touch", Json{{"path", ".nope"}}})}});
  REQUIRE(p);
  auto st = (*p)->process(s, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().name == "ValidationError");
  CHECK(st.error().context["field"] == "argv[1]");
  CHECK(st.error().message.find("path .nope is not in the state") != std::string::npos);

  CHECK(test::rejected_field("exec", {{"argv", Json::array({Json{{"path", ".a"}}})}}) == "argv[0]");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh", Json{{"pth", ".a"}}})}}) == "argv[1].pth");
  CHECK(test::rejected_field("exec", {{"argv", Json::array({"sh"})}, {"env", {{"A", {{"path", "..x"}}}}}}) ==
        "env.A.path");
}

}  // namespace exec_protocol_test
