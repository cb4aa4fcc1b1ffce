#include "core/redis/envelope.hpp"

#include <doctest/doctest.h>

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace envelope_test {

using namespace am2z;
using namespace am2z::redis;

TEST_CASE("envelopes survive the round trip through opts JSON") {
  Envelope e;
  e.run = "0123456789abcdef";
  e.flow = "order";
  e.flow_hash = "ff";
  e.node = "n.1.0";
  e.scope = "3";
  e.session = "s";
  e.reply = "am2z:run:0123456789abcdef";
  e.reply_ttl_ms = 1000;
  e.started_ms = 42;
  e.join = JoinRef{"bull:order._join:", "rX.n.1", "n.1", 2};
  auto back = Envelope::from_json(Json::parse(e.to_json().dump()), KeySpace{});
  REQUIRE(back);
  CHECK(back->to_json() == e.to_json());
  CHECK(back->join->key() == "bull:order._join:rX.n.1");
  CHECK(back->join->dependencies_key() == "bull:order._join:rX.n.1:dependencies");
  CHECK_FALSE(back->events);
  CHECK_FALSE(e.to_json().contains("ev"));  // jobs of runs without events stay as they were
  e.events = true;
  CHECK(e.to_json().dump().find("\"ev\":1") != std::string::npos);  // what lua/step.lua looks for
  auto with_events = Envelope::from_json(Json::parse(e.to_json().dump()), KeySpace{});
  REQUIRE(with_events);
  CHECK(with_events->events);
  CHECK_FALSE(e.to_json().contains("pri"));
  e.priority = 3;
  e.not_before_ms = 1700000000000;
  auto prioritized = Envelope::from_json(Json::parse(e.to_json().dump()), KeySpace{});
  REQUIRE(prioritized);
  CHECK(prioritized->priority == 3);
  CHECK(prioritized->not_before_ms == 1700000000000);
  CHECK_FALSE(e.to_json().contains("rs"));
  CHECK_FALSE(e.to_json().contains("rec"));
  e.resume_of = "fedcba9876543210";
  e.recorded = true;
  auto resumed = Envelope::from_json(Json::parse(e.to_json().dump()), KeySpace{});
  REQUIRE(resumed);
  CHECK(resumed->resume_of == "fedcba9876543210");
  CHECK(resumed->recorded);
  // node deadlines: the earliest of those over the job's node holds
  e.node = "n.1.0";
  e.deadlines = {{"n.1", "fan", 2000, 500}, {"n", "flow", 1000, 9000}, {"n.2", "other", 10, 1}};
  auto timed = Envelope::from_json(Json::parse(e.to_json().dump()), KeySpace{});
  REQUIRE(timed);
  REQUIRE(timed->deadlines.size() == 3);
  REQUIRE(timed->deadline() != nullptr);
  CHECK(timed->deadline()->label == "flow");
  timed->keep_deadlines_over("n.1.0");  // leaving n.2 (a sibling) behind
  CHECK(timed->deadlines.size() == 2);
  timed->keep_deadlines_over("n.3");
  CHECK(timed->deadlines.size() == 1);
  CHECK(timed->deadlines[0].path == "n");
  timed->node = "n.10";  // "n.1" is not a prefix of "n.10" as a node path
  timed->deadlines = {{"n.1", "fan", 5, 500}};
  CHECK(timed->deadline() == nullptr);
}

TEST_CASE("a malformed envelope names the field") {
  auto check = [](const char* text, const char* field) {
    auto e = Envelope::from_json(Json::parse(text), KeySpace{});
    REQUIRE_FALSE(e);
    CHECK(e.error().message.find(field) != std::string::npos);
  };
  check(R"({"flow":"f","fh":"h","node":"n"})", "opts.am2z.run");
  check(R"({"run":1,"flow":"f","fh":"h","node":"n"})", "opts.am2z.run");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","t0":"x"})", "opts.am2z.t0");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","ev":"yes"})", "opts.am2z.ev");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","join":{"q":"x"}})", "opts.am2z.join.id");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","pri":2097153})", "opts.am2z.pri");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","pri":-1})", "opts.am2z.pri");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","nb":"soon"})", "opts.am2z.nb");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","dl":{}})", "opts.am2z.dl");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","dl":[{"path":"n","node":"x","at":0,"ms":5}]})",
        "opts.am2z.dl.at");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","rs":"a:b"})", "opts.am2z.rs");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","rs":5})", "opts.am2z.rs");
  check(R"({"run":"r","flow":"f","fh":"h","node":"n","rec":"yes"})", "opts.am2z.rec");
  check(R"([1])", "opts.am2z");
}

TEST_CASE("job ids are unique per node and batch item, never integer-like, never with ':'") {
  CHECK(job_id("00000000", "n.0", "") == "r00000000.n.0");
  CHECK(job_id("ab", "n.2.0", "3.1") == "rab.n.2.0~3.1");
  CHECK(job_id("ab", "n", "").find(':') == std::string::npos);
}

TEST_CASE("an envelope cannot point a worker at keys outside am2z's own") {
  auto e = Envelope::from_json(Json::parse(R"({"run":"r","flow":"f","fh":"h","node":"n","reply":"bull:q:wait"})"),
                               KeySpace{});
  REQUIRE_FALSE(e);
  CHECK(e.error().message.find("opts.am2z.reply") != std::string::npos);
  CHECK(e.error().message.find("must be a key under 'am2z:'") != std::string::npos);
  auto bad_run = Envelope::from_json(Json::parse(R"({"run":"a:b","flow":"f","fh":"h","node":"n"})"), KeySpace{});
  REQUIRE_FALSE(bad_run);
  CHECK(bad_run.error().message.find("opts.am2z.run") != std::string::npos);
  auto defaulted = Envelope::from_json(Json::parse(R"({"run":"r1","flow":"f","fh":"h","node":"n"})"), KeySpace{});
  REQUIRE(defaulted);
  CHECK(defaulted->reply == "am2z:run:r1");
  CHECK(KeySpace{}.run_result("r1") == "am2z:run:r1");
}

}  // namespace envelope_test
