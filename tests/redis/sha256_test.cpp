#include "core/redis/sha256.hpp"

#include <doctest/doctest.h>

// In a namespace named after the file: unity builds join these files, whose helpers share names.
namespace sha256_test {

using am2z::redis::sha256_hex;

TEST_CASE("sha256 matches the FIPS 180-4 test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // 55, 56 and 64 bytes: the padding boundaries
  CHECK(sha256_hex(std::string(55, 'x')).size() == 64);
  CHECK(sha256_hex(std::string(56, 'x')) != sha256_hex(std::string(57, 'x')));
}

}  // namespace sha256_test
