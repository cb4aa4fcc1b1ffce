// decode_step_reply: the step function's reply as the worker reads it, and the errors that name
// what is wrong when a reply has another shape (a library of another version, a hostile server).
#include "core/redis/job_codec.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/redis/key_space.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace job_codec_test {

using namespace am2z::redis;

namespace {

Reply text(const std::string& s) {
  Reply r;
  r.type = Reply::Type::string;
  r.str = s;
  return r;
}

Reply number(long long n) {
  Reply r;
  r.type = Reply::Type::integer;
  r.integer = n;
  return r;
}

Reply array(std::vector<Reply> elements) {
  Reply r;
  r.type = Reply::Type::array;
  r.elements = std::move(elements);
  return r;
}

/// A whole reply whose fetched jobs are `fetched` (nothing refused, due or limited).
Reply reply_with(std::vector<Reply> fetched) {
  return array({array({}), array(std::move(fetched)), array({}), array({}), array({})});
}

std::string error_of(const Reply& r) {
  auto d = decode_step_reply(r);
  REQUIRE_FALSE(d);
  return d.error().message;
}

Reply nil() {
  Reply r;
  r.type = Reply::Type::nil;
  return r;
}

/// The values of kFetchedFields a fetch returns for a job with data {} and ats 1.
Reply fetched_values() {
  std::vector<Reply> v(kFetchedFields.size(), nil());
  v[0] = text("{}");
  v[4] = text("1");
  return array(std::move(v));
}

}  // namespace

TEST_CASE("fetched jobs come in one list: queue, id, token, their fields' values, then what follows") {
  const Reply hash = fetched_values();
  const Reply children = array({text("bull:q:c1"), text("{\"ok\":1}")});
  auto d = decode_step_reply(reply_with({
      text("bull:q:"), text("a"), text("t:0"), hash, number(0),                                     // a step
      text("bull:j:"), text("b"), text("t:1"), hash, number(1), number(300),                        // a big join
      text("bull:j:"), text("c"), text("t:2"), hash, number(2), children,    array({}), array({}),  // a join
  }));
  REQUIRE(d);
  REQUIRE(d->jobs.size() == 3);
  CHECK(d->jobs[0].key() == "bull:q:a");
  CHECK(d->jobs[0].token == "t:0");
  CHECK(d->jobs[0].field("data") == "{}");
  CHECK(d->jobs[0].number("ats") == 1);
  CHECK(d->jobs[0].fields.size() == 2);  // a nil value is a field the job does not have
  CHECK_FALSE(d->jobs[0].fields.contains(kOversizeField));
  CHECK(d->jobs[1].children_to_read == 300);
  CHECK(d->jobs[1].succeeded.empty());
  CHECK(d->jobs[2].children_to_read == 0);
  REQUIRE(d->jobs[2].succeeded.size() == 1);
  CHECK(d->jobs[2].succeeded[0].first == "bull:q:c1");
  CHECK(d->jobs[2].failed.empty());
}

TEST_CASE("a job too big to hand over comes with its size after its fields' values") {
  std::vector<Reply> values = fetched_values().elements;
  values[0] = nil();  // its data left in Redis
  values.push_back(text("70000000"));
  auto d = decode_step_reply(reply_with({text("bull:q:"), text("a"), text("t:0"), array(values), number(0)}));
  REQUIRE(d);
  REQUIRE(d->jobs.size() == 1);
  CHECK(d->jobs[0].field(kOversizeField) == "70000000");
  CHECK_FALSE(d->jobs[0].fields.contains("data"));
  CHECK(d->jobs[0].number("ats") == 1);
}

TEST_CASE("a reply of another shape is an error naming what is wrong") {
  const std::string prefix = "unexpected reply: ";
  CHECK(error_of(text("OK")).find(prefix + "not a five-part array") != std::string::npos);
  // a job cut short, or one whose hash is not an array (a library of an older version)
  CHECK(error_of(reply_with({text("bull:q:"), text("a"), text("t:0")})).find(prefix + "fetched job") !=
        std::string::npos);
  CHECK(error_of(reply_with({text("bull:q:"), text("a"), text("t:0"), text("data"), number(0)}))
            .find(prefix + "fetched job") != std::string::npos);
  // fields as an older library sent them (names and values), or values missing
  CHECK(error_of(reply_with({text("bull:q:"), text("a"), text("t:0"), array({text("data"), text("{}")}), number(0)}))
            .find(prefix + "fetched job's fields (2 values, not 10)") != std::string::npos);
  // what follows the fields: not a number, a kind it does not know, or a count missing
  const Reply hash = fetched_values();
  for (const auto& bad : std::vector<std::vector<Reply>>{
           {text("bull:q:"), text("a"), text("t:0"), hash, text("0")},
           {text("bull:q:"), text("a"), text("t:0"), hash, number(7)},
           {text("bull:q:"), text("a"), text("t:0"), hash, number(1)},
           {text("bull:q:"), text("a"), text("t:0"), hash, number(2), array({})},
       }) {
    CHECK(error_of(reply_with(bad)).find(prefix + "fetched job's children") != std::string::npos);
  }
}

}  // namespace job_codec_test
