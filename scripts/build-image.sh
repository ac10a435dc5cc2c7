#!/usr/bin/env bash
# `make image`: builds localhost/packet-headers:<version> and :latest from the
# Containerfile. The base is BASE (default: the official Node 20 Debian slim
# image); when it is neither present nor pullable (no Docker Hub here), a
# local stand-in is made once: a Debian bookworm root file system from
# Debian's repositories (mmdebstrap) with this machine's Node 20 and npm
# copied in, imported as localhost/packet-headers-base:node20-bookworm.
set -euo pipefail
cd "$(dirname "$0")/.."
podman=scripts/podman.sh
version="$(node -p 'require("./package.json").version')"
image=localhost/packet-headers
base="${BASE:-docker.io/library/node:20-bookworm-slim}"
standin=localhost/packet-headers-base:node20-bookworm

make_standin() {
  local node major rootfs
  node="$(command -v node)"
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" = 20 ] || { echo "build-image: the stand-in base needs this machine's Node to be 20 (it is $major)" >&2; exit 1; }
  [ -f "$(dirname "$(dirname "$node")")/include/node/node.h" ] || { echo "build-image: the stand-in base needs Node's headers beside $node (include/node)" >&2; exit 1; }
  npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
  rootfs="$(mktemp -d)/rootfs.tar"
  echo "build-image: making $standin with mmdebstrap (Debian bookworm, Node $(node -v) from $node)" >&2
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,libstdc++6 \
    --customize-hook="copy-in $node /usr/bin" \
    --customize-hook='mkdir -p "$1/usr/include"' \
    --customize-hook="copy-in $(dirname "$(dirname "$node")")/include/node /usr/include" \
    --customize-hook='mkdir -p "$1/usr/lib/node_modules"' \
    --customize-hook="copy-in $npm_dir /usr/lib/node_modules" \
    --customize-hook='ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/bin/npm"; ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/bin/npx"' \
    bookworm "$rootfs" http://deb.debian.org/debian
  "$podman" import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$rootfs" "$standin" >/dev/null
  rm -rf "$(dirname "$rootfs")"
}

# What the image is made of; an image built from the same inputs is kept.
inputs="$( (cat Containerfile package.json package-lock.json tsconfig.json binding.gyp; find native src bin -type f | LC_ALL=C sort | xargs cat; echo "$base") | sha256sum | cut -c1-32)"
if [ "$("$podman" image inspect --format '{{index .Labels "packet-headers.inputs"}}' "$image:$version" 2>/dev/null || true)" = "$inputs" ]; then
  "$podman" tag "$image:$version" "$image:latest"
  echo "build-image: $image:$version is up to date" >&2
  exit 0
fi

if [ -z "${BASE:-}" ] && ! "$podman" image exists "$base" && "$podman" image exists "$standin"; then
  # The default base could not be pulled before (the stand-in exists): no second wait for it.
  base="$standin"
elif ! "$podman" image exists "$base"; then
  if ! timeout 60 "$podman" pull --quiet "$base" >/dev/null 2>&1; then
    echo "build-image: cannot pull $base; building on the local stand-in $standin" >&2
    "$podman" image exists "$standin" || make_standin
    base="$standin"
  fi
fi
# The CA bundle npm trusts here, for the build's npm ci (see Containerfile).
ca="$(npm config get cafile 2>/dev/null || true)"
[ -n "$ca" ] && [ "$ca" != null ] && [ -s "$ca" ] || ca="${NODE_EXTRA_CA_CERTS:-}"
secret=()
[ -n "$ca" ] && [ -s "$ca" ] && secret=(--secret "id=npm_ca,src=$ca")
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$podman" build --quiet --squash-all "${secret[@]}" --build-arg BASE="$base" --label "packet-headers.inputs=$inputs" -t "$image:$version" -t "$image:latest" -f Containerfile . >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
echo "build-image: $image:$version ($("$podman" image inspect --format '{{.Size}}' "$image:$version") bytes) on $base" >&2
"$podman" image prune -f >/dev/null 2>&1 || true  # the build stage and earlier builds
