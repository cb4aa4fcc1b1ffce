// merge, pick and delete: the state transforms besides set.
#include <doctest/doctest.h>

#include "plugin_harness.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace transform_processors_test {

using namespace am2z;

namespace {

Json apply(const std::string& type, const Json& with, Json data) {
  auto p = test::create(type, with);
  REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().message));
  test::Harness h;
  State s = State::create("s", std::move(data));
  auto st = (*p)->process(s, h.ctx);
  REQUIRE_MESSAGE(st.has_value(), (st ? "" : st.error().message));
  return s.data;
}

}  // namespace

TEST_CASE("merge: a literal deep-merges into a path; objects merge, other values replace") {
  Json data{{"order", {{"id", 1}, {"meta", {{"a", 1}, {"list", {1, 2}}}}}}, {"keep", true}};
  CHECK(
      apply("merge", {{"into", ".order"}, {"value", {{"meta", {{"b", 2}, {"list", {3}}}}, {"status", "ok"}}}}, data) ==
      Json{{"order", {{"id", 1}, {"meta", {{"a", 1}, {"b", 2}, {"list", {3}}}}, {"status", "ok"}}}, {"keep", true}});
  // Into the whole state by default; a missing target is created.
  CHECK(apply("merge", {{"value", {{"new", {{"x", 1}}}}}}, Json{{"a", 1}}) == Json{{"a", 1}, {"new", {{"x", 1}}}});
  CHECK(apply("merge", {{"into", "a.b"}, {"value", {{"c", 1}}}}, Json::object()) == Json{{"a", {{"b", {{"c", 1}}}}}});
}

TEST_CASE("merge: from takes the value from the state; a missing source fails and leaves the state") {
  CHECK(apply("merge", {{"into", ".customer"}, {"from", ".defaults"}},
              Json{{"customer", {{"name", "Ada"}}}, {"defaults", {{"name", "?"}, {"tier", "basic"}}}}) ==
        Json{{"customer", {{"name", "?"}, {"tier", "basic"}}}, {"defaults", {{"name", "?"}, {"tier", "basic"}}}});

  auto p = test::create("merge", {{"into", ".a"}, {"from", ".missing"}});
  REQUIRE(p);
  test::Harness h;
  State s = State::create("s", Json{{"a", 1}});
  auto st = (*p)->process(s, h.ctx);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("path .missing is not in the state") != std::string::npos);
  CHECK(s.data == Json{{"a", 1}});
}

TEST_CASE("merge: parameters are checked") {
  CHECK(test::rejected_field("merge", Json::object()) == "value");
  CHECK(test::rejected_field("merge", {{"value", 1}, {"from", ".a"}}) ==
        "with");                                                    // "give exactly one of: value or from"
  CHECK(test::rejected_field("merge", {{"value", 1}}) == "value");  // only an object merges into the whole state
  CHECK(test::rejected_field("merge", {{"into", ".metadata"}, {"value", 1}}) == "into");
  CHECK(test::rejected_field("merge", {{"into", ".a"}, {"from", "."}}) == "from");
}

TEST_CASE("pick keeps only the listed paths; delete removes them") {
  Json data{{"order", {{"id", 1}, {"secret", "x"}, {"lines", {1, 2}}}}, {"debug", true}, {"total", 3}};
  CHECK(apply("pick", {{"paths", {".order.id", "total", ".absent"}}}, data) ==
        Json{{"order", {{"id", 1}}}, {"total", 3}});
  CHECK(apply("delete", {{"paths", {".order.secret", "debug", ".absent.too"}}}, data) ==
        Json{{"order", {{"id", 1}, {"lines", {1, 2}}}}, {"total", 3}});
  for (const char* type : {"pick", "delete"}) {
    CAPTURE(type);
    CHECK(test::rejected_field(type, Json::object()) == "paths");
    CHECK(test::rejected_field(type, {{"paths", Json::array()}}) == "paths");
    CHECK(test::rejected_field(type, {{"paths", {".a", "."}}}) == "paths[1]");
    CHECK(test::rejected_field(type, {{"paths", {".metadata.version"}}}) == "paths[0]");
    CHECK(test::rejected_field(type, {{"paths", {".a["}}}) == "paths[0]");
  }
}

}  // namespace transform_processors_test
