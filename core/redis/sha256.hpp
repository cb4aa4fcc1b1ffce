#pragma once
// SHA-256 of a byte string as 64 lowercase hex digits (FIPS 180-4). Used to check that a job was
// built from the same flow file the worker loaded.
#include <string>
#include <string_view>
#include <vector>

namespace am2z::redis {

std::string sha256_hex(std::string_view data);

/// SHA-256 of several files' contents, each length-prefixed (so no two lists of contents
/// collide); names do not count, so copies of a flow in different directories hash alike.
std::string sha256_of_files(const std::vector<std::string>& paths);

}  // namespace am2z::redis
