#!/usr/bin/env node
// Liveness and readiness probe for containers: exits 0 when the daemon's
// metrics endpoint answers, 1 otherwise. A script instead of an inline
// `node -e`, so that the probe command is plain words that no runtime's
// shell or splitting can break (podman 4.3 splits exec probes on spaces).
//   metrics-probe.js [PORT=9990] [HOST=127.0.0.1]
const port = process.argv[2] ?? '9990';
const host = process.argv[3] ?? '127.0.0.1';
const controller = new AbortController();
setTimeout(() => controller.abort(), 5000).unref();
fetch(`http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`, { signal: controller.signal }).then(
  (r) => process.exit(r.ok ? 0 : 1),
  () => process.exit(1),
);
