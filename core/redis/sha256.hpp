#pragma once
// SHA-256 of a byte string as 64 lowercase hex digits (FIPS 180-4). Used to check that a job was
// built from the same flow file the worker loaded.
#include <string>
#include <string_view>

namespace am2z::redis {

std::string sha256_hex(std::string_view data);

}  // namespace am2z::redis
