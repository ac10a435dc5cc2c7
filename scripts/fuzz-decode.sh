#!/usr/bin/env bash
# Builds the libFuzzer target of the frame decoder (native/fuzz/decode_fuzzer.cc)
# with clang, AddressSanitizer and UBSan, and runs it for a bounded time:
#   scripts/fuzz-decode.sh [seconds (default 60)]
# Exits non-zero when the fuzzer finds a crash, a sanitizer report or a broken
# invariant; the input that caused it is kept in build-sanitize/fuzz/.
# Installs Debian's clang-14 and libclang-rt-14-dev (libFuzzer) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
for p in clang-14 libclang-rt-14-dev; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    echo "fuzz-decode: installing $p" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$p" >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$p" >/dev/null; }
  fi
done
out=build-sanitize/fuzz
mkdir -p "$out/corpus"
bin=$out/decode_fuzzer
if [ ! -x "$bin" ] || [ -n "$(find native/decode.cc native/decode.h native/layout.h native/bytes.h native/fuzz -newer "$bin" | head -1)" ]; then
  echo "fuzz-decode: building $bin" >&2
  clang++-14 -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    native/fuzz/decode_fuzzer.cc native/decode.cc -o "$bin"
fi
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The corpus grows across runs (kept under build-sanitize/, not committed).
"$bin" -max_total_time="$seconds" -max_len=600 -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus"
