// BatchNode: one target over many payloads; results in item order; fail-fast or collect.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "tests/core/test_support.hpp"

using namespace am2z;
using namespace std::chrono_literals;

namespace {

JsonPath path(std::string_view text) {
  auto p = JsonPath::parse(text);
  REQUIRE(p.has_value());
  return *p;
}

BatchSpec static_items(Json items, int concurrency = 8, BatchMode mode = BatchMode::fail_fast) {
  BatchSpec spec;
  spec.items = std::move(items);
  spec.concurrency = concurrency;
  spec.mode = mode;
  spec.output = path(".batch");
  return spec;
}

NodePtr batch(NodePtr target, BatchSpec spec) {
  return std::make_shared<BatchNode>("each", std::move(target), std::move(spec));
}

/// Doubles .item (scalar payloads arrive as {"item": value}).
NodePtr doubler() {
  return test::leaf("double", [](State& s, Context&) -> Status {
    s.data["item"] = s.data["item"].get<int>() * 2;
    return {};
  });
}

/// Tracks how many run at once.
struct Gauge {
  std::atomic<int> active{0};
  std::atomic<int> peak{0};
  std::atomic<int> started{0};
  void enter() {
    ++started;
    const int now = ++active;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { --active; }
};

}  // namespace

TEST_CASE("static scalar items: results in order with counts") {
  RunOutcome out = test::run(batch(doubler(), static_items(Json::array({1, 2, 3, 4}))), Json{{"keep", true}});
  REQUIRE(out.ok());
  CHECK(out.state.data["keep"] == true);
  const Json& b = out.state.data["batch"];
  CHECK(b["results"] == Json::parse(R"([{"item":2},{"item":4},{"item":6},{"item":8}])"));
  CHECK(b["errors"] == Json::array());
  CHECK(b["counts"] == Json{{"total", 4}, {"succeeded", 4}, {"failed", 0}});
  CHECK(out.state.meta.version == 2);  // the batch is one step of the outer flow
}

TEST_CASE("object items are the item's whole state") {
  auto target = test::leaf("total", [](State& s, Context&) -> Status {
    s.data["total"] = s.data["qty"].get<int>() * s.data["price"].get<int>();
    return {};
  });
  RunOutcome out = test::run(batch(target, static_items(Json::parse(R"([{"qty":2,"price":5},{"qty":1,"price":7}])"))));
  REQUIRE(out.ok());
  CHECK(out.state.data["batch"]["results"] ==
        Json::parse(R"([{"qty":2,"price":5,"total":10},{"qty":1,"price":7,"total":7}])"));
}

TEST_CASE("items from a path; results keep item order even when later items finish first") {
  BatchSpec spec;
  spec.items_path = path(".orders");
  spec.concurrency = 5;
  spec.output = path(".report.lines");
  auto target = test::leaf("slow-first", [](State& s, Context& ctx) -> Status {
    const int id = s.data["id"].get<int>();
    ctx.cancel_token().wait_for(Millis(10 * (5 - id)));  // item 0 is the slowest
    s.data["done"] = id;
    return {};
  });
  Json orders = Json::array();
  for (int i = 0; i < 5; ++i) orders.push_back(Json{{"id", i}});
  RunOutcome out = test::run(batch(target, spec), Json{{"orders", orders}});
  REQUIRE(out.ok());
  const Json& results = out.state.data["report"]["lines"]["results"];
  REQUIRE(results.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(results[static_cast<std::size_t>(i)] == Json{{"id", i}, {"done", i}});
  CHECK(out.state.data["orders"] == orders);  // the source list is left alone
}

TEST_CASE("each item starts from the parent's metadata") {
  auto versions = std::make_shared<std::vector<std::int64_t>>(3, 0);
  auto target = test::leaf("v", [versions](State& s, Context&) -> Status {
    (*versions)[static_cast<std::size_t>(s.data["item"].get<int>())] = s.meta.version;
    return {};
  });
  auto root = std::make_shared<ChainNode>(
      "c", std::vector<NodePtr>{test::leaf("a", test::add(1)), batch(target, static_items(Json::array({0, 1, 2})))});
  RunOutcome out = test::run(root);
  REQUIRE(out.ok());
  CHECK(*versions == std::vector<std::int64_t>{2, 2, 2});
  CHECK(out.state.meta.version == 3);
}

TEST_CASE("an empty list gives empty results") {
  RunOutcome out = test::run(batch(doubler(), static_items(Json::array())));
  REQUIRE(out.ok());
  CHECK(out.state.data["batch"] == Json{{"results", Json::array()},
                                        {"errors", Json::array()},
                                        {"counts", {{"total", 0}, {"succeeded", 0}, {"failed", 0}}}});
}

TEST_CASE("the concurrency limit is honoured") {
  auto gauge = std::make_shared<Gauge>();
  auto target = test::leaf("gauged", [gauge](State&, Context& ctx) -> Status {
    gauge->enter();
    ctx.cancel_token().wait_for(30ms);
    gauge->leave();
    return {};
  });
  Json items = Json::array();
  for (int i = 0; i < 10; ++i) items.push_back(i);
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(batch(target, static_items(items, 3)));
  REQUIRE(out.ok());
  CHECK(gauge->started == 10);
  CHECK(gauge->peak <= 3);
  CHECK(gauge->peak >= 2);           // it does run items side by side
  CHECK(test::ms_since(t0) >= 110);  // ceil(10/3) = 4 rounds of 30ms

  auto serial = std::make_shared<Gauge>();
  auto one_at_a_time = test::leaf("serial", [serial](State&, Context&) -> Status {
    serial->enter();
    std::this_thread::sleep_for(5ms);
    serial->leave();
    return {};
  });
  REQUIRE(test::run(batch(one_at_a_time, static_items(items, 1))).ok());
  CHECK(serial->peak == 1);
  CHECK(serial->started == 10);
}

TEST_CASE("fail-fast stops starting items and reports the failure") {
  auto gauge = std::make_shared<Gauge>();
  auto target = test::leaf("maybe", [gauge](State& s, Context& ctx) -> Status {
    gauge->enter();
    const int i = s.data["item"].get<int>();
    ctx.cancel_token().wait_for(10ms);
    gauge->leave();
    if (i == 3) return fail(errors::execution("maybe", "item 3 is bad"));
    return {};
  });
  Json items = Json::array();
  for (int i = 0; i < 50; ++i) items.push_back(i);
  RunOutcome out = test::run(batch(target, static_items(items, 2)), Json{{"input", 1}});
  REQUIRE_FALSE(out.ok());
  CHECK(gauge->started < 50);
  CHECK(out.error->message.find("item 3 is bad") != std::string::npos);
  CHECK(out.error->context["index"] == 3);
  CHECK(out.error->context["batch"] == "each");
  CHECK(out.error->context["failedProcessor"] == "maybe");
  CHECK_FALSE(out.state.data.contains("batch"));  // nothing written on failure
  CHECK(out.state.meta.version == 1);
}

TEST_CASE("fail-fast reports the lowest-index real failure, not the first in time or a cancelled item") {
  // Item 0 waits on its token (and is cancelled by the batch), item 1 fails after 100ms,
  // item 2 fails at once. The batch reports item 1.
  auto target = test::leaf("mixed", [](State& s, Context& ctx) -> Status {
    switch (s.data["item"].get<int>()) {
      case 0:
        if (ctx.cancel_token().wait_for(3s)) return fail(errors::cancelled(ctx.cancel_token().reason()));
        return {};
      case 1:
        std::this_thread::sleep_for(100ms);
        return fail(errors::execution("mixed", "slow failure of item 1"));
      default:
        return fail(errors::execution("mixed", "fast failure of item 2"));
    }
  });
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(batch(target, static_items(Json::array({0, 1, 2}), 3)));
  REQUIRE_FALSE(out.ok());
  CHECK(test::ms_since(t0) < 2000);  // item 0 was cancelled, not waited out
  CHECK(out.error->context["index"] == 1);
  CHECK(out.error->message.find("slow failure of item 1") != std::string::npos);
}

TEST_CASE("fail-fast with only a cancelled-category failure still fails the batch") {
  auto target = test::leaf("gives-up", [](State& s, Context&) -> Status {
    if (s.data["item"] == 1) return fail(errors::cancelled("deadline passed while waiting for a slot"));
    return {};
  });
  RunOutcome out = test::run(batch(target, static_items(Json::array({0, 1, 2}), 1)));
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "CANCELLED");
  CHECK(out.error->context["index"] == 1);
}

TEST_CASE("collect mode runs everything and records the errors") {
  auto target = test::leaf("picky", [](State& s, Context&) -> Status {
    if (!s.data["item"].is_number()) return fail(errors::validation("item", s.data["item"], "must be a number"));
    s.data["item"] = s.data["item"].get<int>() + 1;
    return {};
  });
  RunOutcome out = test::run(batch(target, static_items(Json::array({1, "x", 3, nullptr}), 2, BatchMode::collect)));
  REQUIRE(out.ok());
  const Json& b = out.state.data["batch"];
  CHECK(b["results"] == Json::parse(R"([{"item":2},null,{"item":4},null])"));
  CHECK(b["counts"] == Json{{"total", 4}, {"succeeded", 2}, {"failed", 2}});
  REQUIRE(b["errors"].size() == 2);
  CHECK(b["errors"][0]["index"] == 1);
  CHECK(b["errors"][0]["error"]["code"] == "VALIDATION_FAILED");
  CHECK(b["errors"][0]["error"]["context"]["failedProcessor"] == "picky");
  CHECK(b["errors"][1]["index"] == 3);
  CHECK(out.state.meta.version == 2);
}

TEST_CASE("items that are not an array, or not there, are a validation error") {
  BatchSpec spec;
  spec.items_path = path(".orders");
  spec.output = path(".out");
  auto node = batch(doubler(), spec);

  RunOutcome wrong = test::run(node, Json{{"orders", "not a list"}});
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error->code == "VALIDATION_FAILED");
  CHECK(wrong.error->context["field"] == "each.items");
  CHECK(wrong.error->message.find(".orders must be an array, found string") != std::string::npos);

  RunOutcome missing = test::run(node, Json::object());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error->code == "VALIDATION_FAILED");
  CHECK(missing.error->message.find(".orders is not in the state") != std::string::npos);

  RunOutcome static_object = test::run(batch(doubler(), static_items(Json{{"a", 1}})));
  REQUIRE_FALSE(static_object.ok());
  CHECK(static_object.error->message.find("must be an array, found object") != std::string::npos);
}

TEST_CASE("an output path that cannot be written is an error") {
  BatchSpec spec = static_items(Json::array({1}));
  spec.output = path(".name.result");
  RunOutcome out = test::run(batch(doubler(), spec), Json{{"name", "a string"}});
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "VALIDATION_FAILED");
  CHECK(out.state.data == Json{{"name", "a string"}});
}

TEST_CASE("external cancellation stops a batch with CancelledError") {
  auto target = test::leaf("slow", [](State&, Context& ctx) -> Status {
    if (ctx.cancel_token().wait_for(3s)) return fail(errors::cancelled(ctx.cancel_token().reason()));
    return {};
  });
  CancelSource ext;
  RunOptions opts;
  opts.cancel = ext.token();
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    ext.cancel("user pressed Ctrl-C");
  });
  const auto t0 = SteadyClock::now();
  RunOutcome out = test::run(batch(target, static_items(Json::array({1, 2, 3, 4}), 2)), Json::object(), opts);
  stopper.join();
  REQUIRE_FALSE(out.ok());
  CHECK(out.error->code == "CANCELLED");
  CHECK(out.error->message.find("user pressed Ctrl-C") != std::string::npos);
  CHECK(test::ms_since(t0) < 2000);
}
