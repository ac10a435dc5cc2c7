// Bulk transfers between the test namespaces (test/helpers/bulk_peer.py): a
// server that sends a fixed number of bytes to each client, and a client that
// reads them (optionally with a small receive buffer, a pause and slow reads,
// to make zero windows).
import { dirname, join } from 'node:path';
import type { TestNetwork } from './netns.js';
import { LineCollector } from './processes.js';
import { TCP_PEER_ARGV, TCP_PEER_PATH } from './tcppeer.js';
import { waitFor } from './wait.js';

const BULK_PEER = [TCP_PEER_ARGV[0], join(dirname(TCP_PEER_PATH), 'bulk_peer.py')];

/** A server in the server namespace on host:port, sending `bytes` to each client; resolves once it listens. */
export async function startBulkServer(n: TestNetwork, host: string, port: number, bytes: number): Promise<void> {
  const server = n.spawn(n.serverNs, [...BULK_PEER, 'server', '--listen', host, '--port', String(port), '--bytes', String(bytes)]);
  const lines = new LineCollector(server.stdout);
  server.stderr?.resume();
  await waitFor(() => lines.text().includes('listening'), 10_000, `bulk server on ${host}:${port}`);
}

/** One download from the client namespace; the bytes received. */
export async function fetchBulk(n: TestNetwork, host: string, port: number, extra: string[] = []): Promise<number> {
  const r = await n.exec(n.clientNs, [...BULK_PEER, 'client', '--connect', host, '--port', String(port), ...extra], { timeoutMs: 60_000, check: true });
  return Number(r.stdout.trim());
}
