#pragma once
// What the fuzz targets share: a check that aborts (libFuzzer keeps the input that made it fail)
// and the JSON printing the binary uses.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json.hpp"

/// Aborts with the failed condition: a broken contract is a crash for the fuzzer, like a segfault.
#define AM2Z_FUZZ_CHECK(cond)                                                                \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);    \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace am2z::fuzz {

/// The fuzzer's bytes as text.
inline std::string_view text_of(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// JSON as the CLI prints it (cli_support.cpp): invalid UTF-8 replaced, never a throw.
inline std::string printed(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace am2z::fuzz
