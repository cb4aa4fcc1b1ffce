// RouteNode: picks one target by the value at a path.
#include <doctest/doctest.h>

#include "tests/core/test_support.hpp"

using namespace am2z;

namespace {

/// A target that records which route ran in .routed.
NodePtr mark(const std::string& name) {
  return test::leaf(name, [name](State& s, Context&) -> Status {
    s.data["routed"] = name;
    return {};
  });
}

NodePtr route(const std::string& selector, std::vector<std::pair<std::string, NodePtr>> cases,
              NodePtr fallback = nullptr) {
  auto path = JsonPath::parse(selector);
  REQUIRE(path.has_value());
  return std::make_shared<RouteNode>("router", *path, std::move(cases), std::move(fallback));
}

Json routed(const NodePtr& node, const Json& input) {
  RunOutcome out = test::run(node, input);
  REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error->message));
  return out.state.data.value("routed", Json());
}

}  // namespace

TEST_CASE("string values pick their case") {
  auto node = route(".type", {{"email", mark("email")}, {"sms", mark("sms")}, {"push", mark("push")}});
  CHECK(routed(node, {{"type", "email"}}) == "email");
  CHECK(routed(node, {{"type", "sms"}}) == "sms");
  CHECK(routed(node, {{"type", "push"}}) == "push");
}

TEST_CASE("numbers and booleans match their JSON spelling") {
  auto by_number = route(".priority", {{"1", mark("one")}, {"2", mark("two")}, {"2.5", mark("two-and-a-half")}});
  CHECK(routed(by_number, {{"priority", 1}}) == "one");
  CHECK(routed(by_number, {{"priority", 2}}) == "two");
  CHECK(routed(by_number, {{"priority", 2.5}}) == "two-and-a-half");
  CHECK(routed(by_number, {{"priority", "2"}}) == "two");  // the string "2" is spelled the same

  auto by_bool = route(".flags.vip", {{"true", mark("vip")}, {"false", mark("regular")}});
  CHECK(routed(by_bool, {{"flags", {{"vip", true}}}}) == "vip");
  CHECK(routed(by_bool, {{"flags", {{"vip", false}}}}) == "regular");

  CHECK(RouteNode::key_of(Json(-3)) == "-3");
  CHECK(RouteNode::key_of(Json("x y")) == "x y");
  CHECK(RouteNode::key_of(Json(nullptr)) == "null");
}

TEST_CASE("the selected target runs on the state like any step") {
  auto node = route(".kind", {{"inc", test::leaf("inc", test::add(5))}});
  RunOutcome out = test::run(node, Json{{"kind", "inc"}, {"count", 1}});
  REQUIRE(out.ok());
  CHECK(out.state.data["count"] == 6);
  CHECK(out.state.meta.version == 2);
}

TEST_CASE("no matching case runs the default") {
  auto node = route(".type", {{"email", mark("email")}}, mark("fallback"));
  CHECK(routed(node, {{"type", "fax"}}) == "fallback");
  CHECK(routed(node, {{"type", 7}}) == "fallback");
  CHECK(routed(node, {{"type", "email"}}) == "email");
}

TEST_CASE("a missing selector path runs the default") {
  auto node = route(".order.channel", {{"web", mark("web")}}, mark("fallback"));
  CHECK(routed(node, {{"order", {{"id", 1}}}}) == "fallback");
  CHECK(routed(node, Json::object()) == "fallback");
}

TEST_CASE("no match and no default is ROUTE_NOT_FOUND naming the value") {
  auto node = route(".type", {{"email", mark("email")}, {"sms", mark("sms")}});
  RunOutcome out = test::run(node, Json{{"type", "fax"}});
  REQUIRE_FALSE(out.ok());
  const Error& e = *out.error;
  CHECK(e.code == "ROUTE_NOT_FOUND");
  CHECK_FALSE(e.retryable);
  CHECK(e.message.find("\"fax\"") != std::string::npos);
  CHECK(e.message.find(".type") != std::string::npos);
  CHECK(e.message.find("email, sms") != std::string::npos);  // lists the cases
  CHECK(e.context["value"] == "fax");
  CHECK(e.context["route"] == "router");
  CHECK(e.context["selector"] == ".type");
  CHECK(out.state.data == Json{{"type", "fax"}});
  CHECK(out.state.meta.version == 1);

  RunOutcome num = test::run(node, Json{{"type", 42}});
  REQUIRE_FALSE(num.ok());
  CHECK(num.error->code == "ROUTE_NOT_FOUND");
  CHECK(num.error->message.find("42") != std::string::npos);
  CHECK(num.error->context["value"] == 42);
}

TEST_CASE("a missing selector path with no default is ROUTE_NOT_FOUND saying so") {
  auto node = route(".order.channel", {{"web", mark("web")}});
  RunOutcome out = test::run(node, Json{{"order", Json::object()}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "ROUTE_NOT_FOUND");
  CHECK(out.error->message.find(".order.channel is not in the state") != std::string::npos);
  CHECK(out.error->context["selector"] == ".order.channel");
  CHECK(out.error->context["value"].is_null());
}

TEST_CASE("children are the cases in order, then the default") {
  auto a = mark("a");
  auto b = mark("b");
  auto d = mark("d");
  auto node = std::make_shared<RouteNode>("r", *JsonPath::parse(".x"),
                                          std::vector<std::pair<std::string, NodePtr>>{{"a", a}, {"b", b}}, d);
  REQUIRE(node->children().size() == 3);
  CHECK(node->children()[0] == a.get());
  CHECK(node->children()[1] == b.get());
  CHECK(node->children()[2] == d.get());
  CHECK(node->kind() == NodeKind::route);
}
