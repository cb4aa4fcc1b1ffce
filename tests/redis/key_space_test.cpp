// KeySpace: every key from the prefix; am2z's own keys follow a non-default prefix.
#include "core/redis/key_space.hpp"

#include <doctest/doctest.h>

#include "core/redis/envelope.hpp"

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace key_space_test {

using namespace am2z;
using namespace am2z::redis;

TEST_CASE("the default prefix keeps BullMQ's queue keys and am2z's own keys where they were") {
  const KeySpace keys;
  CHECK(keys.queue("order.validate") == "bull:order.validate:");
  CHECK(keys.queue(keys.join_queue("order")) == "bull:order._join:");
  CHECK(keys.run_result("abc") == "am2z:run:abc");
  CHECK(keys.cancelled_runs() == "am2z:cancelled");
  CHECK(keys.worker("host:1") == "am2z:worker:host:1");
  CHECK(job_key(keys.queue("q"), "7") == "bull:q:7");
  CHECK(lock_key(keys.queue("q"), "7") == "bull:q:7:lock");
  CHECK(queue_key(keys.queue("q"), "marker") == "bull:q:marker");
  // BullMQ's client name: prefix, base64 of the queue name, ":w:", worker name.
  CHECK(keys.worker_client_name("q", "w1") == "bull:cQ==:w:w1");
}

TEST_CASE("another prefix moves every key, am2z's own included") {
  const KeySpace keys("{tenant}");
  CHECK(keys.queue("f.s") == "{tenant}:f.s:");
  CHECK(keys.run_result("abc") == "{tenant}:am2z:run:abc");
  CHECK(keys.cancelled_runs() == "{tenant}:am2z:cancelled");
  CHECK(keys.worker("w") == "{tenant}:am2z:worker:w");
  for (const std::string& k : {keys.run_result("x"), keys.cancelled_runs(), keys.worker("w")}) {
    CHECK(k.find("am2z:") != 0);  // nothing left in the default deployment's space
  }
}

TEST_CASE("a job of one deployment cannot write into another deployment's run results") {
  const KeySpace mine("blue");
  auto other =
      Envelope::from_json(Json::parse(R"({"run":"r","flow":"f","fh":"h","node":"n","reply":"am2z:run:r"})"), mine);
  REQUIRE_FALSE(other);
  CHECK(other.error().message.find("must be a key under 'blue:am2z:'") != std::string::npos);
  auto own = Envelope::from_json(Json::parse(R"({"run":"r","flow":"f","fh":"h","node":"n"})"), mine);
  REQUIRE(own);
  CHECK(own->reply == "blue:am2z:run:r");
  auto stolen = Envelope::from_json(
      Json::parse(R"({"run":"r","flow":"f","fh":"h","node":"n","reply":"blue:am2z:run:other"})"), mine);
  REQUIRE_FALSE(stolen);
  CHECK(stolen.error().message.find("this run's own result key 'blue:am2z:run:r'") != std::string::npos);
}

}  // namespace key_space_test
