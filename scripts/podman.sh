#!/usr/bin/env bash
# podman with the settings this kind of machine needs (deploy/container/
# containers.conf, its ulimits capped at this shell's hard limits), installing
# podman, runc, catatonit and mmdebstrap when they are missing:
#   scripts/podman.sh run --rm IMAGE ...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
packages=(podman runc catatonit mmdebstrap uidmap)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "podman.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi
# nofile: this shell's hard limit, which the container may not exceed here.
# nproc stays at the file's modest value: larger ones, even below the shell's
# hard limit, were refused on this VM.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
conf="${TMPDIR:-/tmp}/packet-headers-containers.conf"
sed -e "s/nofile=[0-9]*:[0-9]*/nofile=$nofile:$nofile/" \
  "$root/deploy/container/containers.conf" > "$conf.$$" && mv "$conf.$$" "$conf"
export CONTAINERS_CONF="$conf"
exec podman "$@"
