#!/usr/bin/env bash
# Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-sanitize/build/Release/, beside (never instead of) the release build in
# build/. Only when a source under native/ or binding.gyp is newer than that
# build. node-gyp always writes to ./build of its working directory, so it runs
# in build-sanitize/, where binding.gyp and native/ are symbolic links.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=build-sanitize
addon=$dir/build/Release/packet_headers_capture.node
mkdir -p "$dir"
ln -sfn ../binding.gyp "$dir/binding.gyp"
ln -sfn ../native "$dir/native"
if [ ! -f "$addon" ] || [ -n "$(find native/ binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; then
  echo "build-sanitize: building the ASan/UBSan addon" >&2
  npx --no-install node-gyp rebuild -C "$dir" -j 2 -- -Dsanitize=1 >"$dir/build.log" 2>&1 || { cat "$dir/build.log" >&2; exit 1; }
fi
echo "$root/$addon"
