#!/usr/bin/env bash
# One-command set-up on Debian 12.
#   ./setup.sh           install what is missing, build, run the order example
#   ./setup.sh --test    the same, then the whole test suite (plain, ASan+UBSan and TSan builds,
#                        the chaos suite, and each fuzz target for AM2Z_FUZZ_SECONDS, default 30;
#                        the sanitizer builds skip the tests labelled release_only, TSan those
#                        labelled no_tsan)
set -euo pipefail
cd "$(dirname "$0")"

mode=example
case "${1:-}" in
  "") ;;
  --test) mode=test ;;
  -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
  *) echo "setup.sh: unknown argument '$1' (use --test or nothing)" >&2; exit 2 ;;
esac

packages=(g++ cmake ninja-build pkg-config python3 redis-server
          libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libhiredis-dev libspdlog-dev libfmt-dev doctest-dev
          libcurl4-openssl-dev libvalijson-dev libcpp-httplib-dev libmimalloc-dev openssl graphviz)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The BullMQ interop tests need Node.js and npm (any install; Debian's if there is none).
if [ "$mode" = test ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

jobs=$(nproc)
# Unity builds: each target's sources compiled 24 at a time, about three times faster from
# scratch (AM2Z_UNITY=OFF compiles file by file, as a development build does).
export AM2Z_UNITY=${AM2Z_UNITY:-ON}
build() {  # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DAM2Z_WERROR=ON -DAM2Z_UNITY="$AM2Z_UNITY" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

build build -DCMAKE_BUILD_TYPE=Release
echo "== example: the order flow ==" >&2
./build/cli/am2z run examples/flows/order/order.yaml -i examples/flows/order/order-input.json

if [ "$mode" = test ]; then
  echo "== tests: release build ==" >&2
  ctest --test-dir build --output-on-failure -j "$jobs"
  echo "== chaos report (tests/chaos) ==" >&2
  cat build/chaos-report.jsonl >&2
  echo "== tests: ASan+UBSan build ==" >&2
  build build-asan -DCMAKE_BUILD_TYPE=Debug -DAM2Z_SANITIZE=address
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE release_only
  echo "== tests: TSan build ==" >&2
  build build-tsan -DCMAKE_BUILD_TYPE=Debug -DAM2Z_SANITIZE=thread
  TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -j "$jobs" -LE "release_only|no_tsan"
  export AM2Z_FUZZ_SECONDS=${AM2Z_FUZZ_SECONDS:-30}
  echo "== fuzz: libFuzzer targets, $AM2Z_FUZZ_SECONDS s each (clang-16, ASan+UBSan) ==" >&2
  tests/fuzz/run
fi
