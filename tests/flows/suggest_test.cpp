#include "flows/suggest.hpp"

#include <doctest/doctest.h>

using am2z::edit_distance;
using am2z::suggest;

TEST_CASE("edit_distance counts insertions, deletions, substitutions and transpositions, ignoring case") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("chain", "chian") == 1);
  CHECK(edit_distance("flwo", "flow") == 1);
  CHECK(edit_distance("flwo", "flows") == 2);
  CHECK(edit_distance("ca", "abc") == 3);  // optimal string alignment: no edits inside a transposition
  CHECK(edit_distance("Exec", "exec") == 0);
}

TEST_CASE("suggest picks the closest candidate within distance 2") {
  const std::vector<std::string> keys{"chain", "parallel", "route", "batch", "use"};
  CHECK(suggest("chian", keys) == "chain");
  CHECK(suggest("paralel", keys) == "parallel");
  CHECK(suggest("rout", keys) == "route");
  CHECK(suggest("zzzzzz", keys).empty());
  CHECK(suggest("flwo", {"flows", "flow"}) == "flow");
}

TEST_CASE("suggest accepts a prefix either way") {
  const std::vector<std::string> names{"validate", "charge"};
  CHECK(suggest("val", names) == "validate");
  CHECK(suggest("validate_order", names) == "validate");
  CHECK(suggest("v", names).empty());
}

TEST_CASE("suggest prefers a close spelling to a prefix and the earlier candidate on ties") {
  CHECK(suggest("val", {"validate", "vol"}) == "vol");
  CHECK(suggest("cat", {"bat", "hat"}) == "bat");
}

TEST_CASE("suggest does not offer a rewrite of the whole word") {
  CHECK(suggest("x", {"ab"}).empty());
  CHECK(suggest("ab", {"xy"}).empty());
  CHECK(suggest("on", {"no"}) == "no");  // a transposition is one edit
  CHECK(suggest("a", {"b"}).empty());
}

TEST_CASE("suggest offers a key that shares the word's stem, after spellings and prefixes") {
  const std::vector<std::string> keys{"use", "with", "timeout", "retry", "concurrency", "rate", "description"};
  CHECK(suggest("retries", keys) == "retry");
  CHECK(suggest("timeouts", keys) == "timeout");  // also a prefix
  CHECK(suggest("descriptions", keys) == "description");
  CHECK(suggest("concurrent", keys) == "concurrency");
  CHECK(suggest("rater", keys) == "rate");
  CHECK(suggest("retrograde", keys).empty());  // "retr" is too little of it
  CHECK(suggest("retries", {"retry", "retrie"}) == "retrie");  // a close spelling first
}

TEST_CASE("suggest with no candidates is empty") { CHECK(suggest("anything", {}).empty()); }
