#!/usr/bin/env bash
# Before `npm pack`: builds everything (scripts/setup.sh) and puts the addon
# where node-gyp-build looks for a prebuilt one, so that the package installs
# on linux-x64 without a compiler (or install scripts, which npm may not run
# for a global install); elsewhere the package's install script builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
platform="$(node -p 'process.platform + "-" + process.arch')"
mkdir -p "prebuilds/$platform"
# Tags node-gyp-build matches: any Node version (N-API), glibc.
cp build/Release/packet_headers_capture.node "prebuilds/$platform/node.napi.glibc.node"
# better-sqlite3 (index, -index) is not prebuilt here: npm installs it as a
# dependency, and its own install script builds it from its bundled SQLite
# source when allowed (npm install -g --allow-scripts=packet-headers,better-sqlite3,
# or npm rebuild -g better-sqlite3 afterwards). The daemon runs without it.
