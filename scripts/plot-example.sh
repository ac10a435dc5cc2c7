#!/usr/bin/env bash
# Makes docs/plot-example.png: a real lossy transfer between two network
# namespaces (netem loss 1% delay 20ms on the server's side), captured live by
# the daemon on the server's interface, as M-Lab captures (so the RTT of the
# server's data is the path's), into its own file, drawn by `packet-headers plot` and rendered to
# PNG by headless Chromium (apt package chromium). Needs root (namespaces).
#   scripts/plot-example.sh [OUT.png] [BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/plot-example.png}"
bytes="${2:-4000000}"
command -v chromium >/dev/null || { echo "plot-example: needs chromium (apt-get install chromium)" >&2; exit 1; }

id="phx$$"
srv="$id-srv" mid="$id-mid" cli="$id-cli"
work="$(mktemp -d)"
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  for ns in "$srv" "$mid" "$cli"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  [ "${KEEP_WORK:-}" = 1 ] && echo "plot-example: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

for ns in "$srv" "$mid" "$cli"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "${id}s" netns "$srv" type veth peer name "${id}m0" netns "$mid"
ip link add "${id}c" netns "$cli" type veth peer name "${id}m1" netns "$mid"
ip -n "$srv" addr add 10.250.0.1/30 dev "${id}s"
ip -n "$cli" addr add 10.250.0.2/30 dev "${id}c"
# Offloads off: the capture then sees the segments on the wire, not 64 kB aggregates, and
# checksums are computed before a frame leaves (the userspace bridge re-sends frames as they are).
for end in "$srv ${id}s" "$cli ${id}c" "$mid ${id}m0" "$mid ${id}m1"; do
  set -- $end
  ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off >/dev/null
  ip -n "$1" link set "$2" up
done
# The server's side drops 1% and delays by 20 ms: netem where the kernel has it, else the same in userspace
# (scripts/lossy_bridge.py) between the two ends in the middle namespace.
if ip netns exec "$srv" tc qdisc add dev "${id}s" root netem loss 1% delay 20ms 2>/dev/null; then
  ip -n "$mid" link add "${id}br" type bridge
  ip -n "$mid" link set "${id}m0" master "${id}br"
  ip -n "$mid" link set "${id}m1" master "${id}br"
  ip -n "$mid" link set "${id}br" up
  shaping="netem loss 1% delay 20ms"
else
  for end in "${id}m0" "${id}m1"; do ip -n "$mid" link set "$end" promisc on; done
  ip netns exec "$mid" python3 scripts/lossy_bridge.py "${id}m0" "${id}m1" --loss 0.01 --delay 0.02 > "$work/bridge.log" &
  for _ in $(seq 50); do grep -q bridging "$work/bridge.log" && break; sleep 0.1; done
  shaping="lossy_bridge.py loss 1% delay 20ms (no netem in this kernel)"
fi

peer=test/helpers/bulk_peer.py
ip netns exec "$srv" python3 "$peer" server --listen 10.250.0.1 --port 9000 --bytes "$bytes" > "$work/server.log" &
ip netns exec "$srv" node bin/packet-headers.js -interface "${id}s" -datadir "$work/data" \
  -prometheusx.listen-address 127.0.0.1:0 -sigtermwait 0s 2> "$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do grep -q "capturing on" "$work/daemon.log" && grep -q listening "$work/server.log" && break; sleep 0.1; done
ip netns exec "$cli" python3 "$peer" client --connect 10.250.0.1 --port 9000 >/dev/null
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=""

file="$(find "$work/data" -name '*.pcap.gz' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)"
node bin/packet-headers.js plot "$file" -o "$work/plot.svg"
height="$(sed -n 's/.*<svg[^>]* height="\([0-9.]*\)".*/\1/p' "$work/plot.svg" | head -1)"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1200,${height%.*}" \
  --screenshot="$work/plot.png" "file://$work/plot.svg" >/dev/null 2>&1
mkdir -p "$(dirname "$out")"
cp "$work/plot.png" "$out"
echo "plot-example: $out from $(basename "$file"), $shaping ($(stat -c %s "$out") bytes)" >&2
