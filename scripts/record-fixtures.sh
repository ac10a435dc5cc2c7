#!/usr/bin/env bash
# Records test/fixtures/v4.pcap and v6.pcap from real connections between two
# network namespaces (test/helpers/recordfixtures.ts). Run once, as root; the
# files are committed, so the tests never need anything outside the checkout.
# Re-recording changes addresses, ports and times: the tests read those from
# the fixtures with tshark, not from constants.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
command -v curl >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl >/dev/null; }
node dist/test/helpers/recordfixtures.js test/fixtures
