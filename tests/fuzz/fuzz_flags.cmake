# Compile flags of an AM2Z_FUZZ build, included before the libraries so that they are instrumented
# too: libFuzzer coverage, ASan and UBSan (every UBSan finding aborts, so the fuzzer keeps it).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
  message(FATAL_ERROR "AM2Z_FUZZ needs clang >= 16 (Debian 12: apt-get install clang-16 libclang-rt-16-dev; "
                      "configure with CXX=clang++-16); found ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
endif()
# libstdc++ 12's <expected> is empty unless __cpp_concepts >= 202002L (P0848, conditionally trivial
# special members). Clang implements P0848 from 16 on but announces 202002L only from 19 on.
if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 19)
  add_compile_options(-U__cpp_concepts -D__cpp_concepts=202002L)
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer -g)
add_link_options(-fsanitize=address,undefined)
# Assertions stay on: nlohmann's JSON_ASSERT turns misuse (operator[] on a missing key of a const
# object) into an abort the fuzzer reports.
set(CMAKE_CXX_FLAGS_RELEASE "-O2")
set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O2")
