#!/usr/bin/env bash
# Installs whatever a fresh Debian machine is missing to build, run and test the
# daemon, and builds it. Idempotent: each step runs only when its output is
# missing or out of date, so `make run` and `make test` can always call it.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: libpcap and libdeflate headers for the addon; tcpdump, tshark, iproute2 and
# ethtool for the integration tests (independent capture, reading, namespaces);
# inotify-tools plays the uploader that watches the datadir.
apt_packages=(libpcap-dev libdeflate-dev tcpdump tshark iproute2 ethtool iputils-ping procps strace prometheus nftables inotify-tools)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# npm dependencies, when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --ignore-scripts >/dev/null
fi

# The native capture addon, when any of its sources is newer than the build.
addon=build/Release/packet_headers_capture.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; then
  echo "setup: building the native addon" >&2
  npx --no-install node-gyp rebuild -j 2 >/dev/null
fi

# better-sqlite3 (the flow index, src/index/): npm ci runs no install scripts, and its own
# (prebuild-install) would try to download a prebuilt binary from GitHub, so it is built from
# its bundled SQLite source with the project's node-gyp, once per installed version.
sqlite_addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [ ! -f "$sqlite_addon" ] || [ node_modules/better-sqlite3/package.json -nt "$sqlite_addon" ]; then
  echo "setup: building better-sqlite3 from source" >&2
  # npx, as for the addon above, so that npm configuration (nodedir: where the Node headers are) applies.
  (cd node_modules/better-sqlite3 && npx --no-install node-gyp rebuild --release -j 2 >/dev/null)
fi

# TypeScript, when a source (or the compiler's configuration or version) is
# newer than the last build: a start with nothing to do stays quick.
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src test bench hardening tsconfig.json package-lock.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  # From scratch: a compiled test whose source was deleted would otherwise still run.
  rm -rf dist
  npx --no-install tsc -p tsconfig.json
  touch "$stamp"
fi

# The live benchmark's own sender (bench/pcapsend.c; the benchmark builds it too when it is missing).
if [ ! -x dist/bench/pcapsend ] || [ bench/pcapsend.c -nt dist/bench/pcapsend ]; then
  # Not needed by the daemon or its tests: a failure here stops nothing.
  cc -O2 -Wall -Wextra -o dist/bench/pcapsend bench/pcapsend.c || echo "setup: bench/pcapsend.c not built; the benchmark builds it when it runs" >&2
fi
