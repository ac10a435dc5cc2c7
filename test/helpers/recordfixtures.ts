// Records the test captures under test/fixtures/ from real TCP connections
// between two network namespaces (run once by scripts/record-fixtures.sh; the
// output is committed, and the tests read only that):
//   v4.pcap  an IPv4 HTTP exchange (python3 http.server, curl) of 12 packets:
//            handshake, GET, response, the FIN exchange; Ethernet link type
//   v6.pcap  an IPv6 flow (tcp_peer.py echo) whose file is cut short in its
//            last packet: 8 whole records, then a 9th whose record header
//            promises more bytes than the file holds (it ends inside that
//            packet's IPv6 header), as a capture cut off mid-write looks
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTcpdump } from './captures.js';
import { createTestNetwork, type TestNetwork } from './netns.js';
import { runTcpClient, startTcpServer } from './tcppeer.js';
import { waitFor } from './wait.js';

const PCAP_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
const V4_PACKETS = 12;
const V6_WHOLE_PACKETS = 8;
/** Bytes of the 9th v6 packet kept: its Ethernet header and 16 of its 40-byte IPv6 header. */
const V6_TAIL_BYTES = 14 + 16;

/** Offsets of the records of a classic pcap file. */
function recordOffsets(file: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = PCAP_HEADER_BYTES; at + RECORD_HEADER_BYTES <= file.length; ) {
    offsets.push(at);
    at += RECORD_HEADER_BYTES + file.readUInt32LE(at + 8);
  }
  return offsets;
}

async function recordV4(net: TestNetwork, work: string): Promise<Buffer> {
  const site = join(work, 'site');
  mkdirSync(site, { recursive: true });
  writeFileSync(join(site, 'index.txt'), 'packet-headers fixture: HTTP response body\n');
  const port = 8080;
  const server = net.spawn(net.serverNs, ['python3', '-m', 'http.server', '--bind', net.serverV4, '--directory', site, String(port)]);
  try {
    await waitFor(async () => (await net.exec(net.clientNs, ['curl', '-s', '-o', '/dev/null', `http://${net.serverV4}:${port}/`])).code === 0, 10_000, 'http.server');
    // Tries until the exchange has exactly 12 packets (delayed ACKs vary the count).
    for (let attempt = 1; attempt <= 10; attempt++) {
      const out = join(work, `v4-${attempt}.pcap`);
      const dump = await startTcpdump(net, net.clientNs, net.clientIf, out, `tcp port ${port}`);
      const r = await net.exec(net.clientNs, ['curl', '-s', '--http1.1', '-o', '/dev/null', `http://${net.serverV4}:${port}/index.txt`], { timeoutMs: 10_000 });
      await new Promise((done) => setTimeout(done, 500));
      await dump.stop();
      if (r.code !== 0) throw new Error(`curl failed: ${r.stderr}`);
      const file = readFileSync(out);
      const n = recordOffsets(file).length;
      console.error(`v4: attempt ${attempt}: ${n} packets`);
      if (n === V4_PACKETS) return file;
    }
    throw new Error(`no HTTP exchange of ${V4_PACKETS} packets in 10 tries`);
  } finally {
    try {
      process.kill(-server.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
}

async function recordV6(net: TestNetwork, work: string): Promise<Buffer> {
  const server = await startTcpServer(net, net.serverNs, [{ host: net.serverV6, port: 0 }]);
  try {
    const out = join(work, 'v6-full.pcap');
    const dump = await startTcpdump(net, net.clientNs, net.clientIf, out, 'ip6 and tcp');
    const r = await runTcpClient(net, net.clientNs, { connect: server.listening[0], size: 600, marker: 'v6-fixture/' });
    await new Promise((done) => setTimeout(done, 500));
    await dump.stop();
    if (r.code !== 0 || r.summary?.ok !== 1) throw new Error(`tcp_peer client failed: ${r.stderr}`);
    const file = readFileSync(out);
    const offsets = recordOffsets(file);
    if (offsets.length <= V6_WHOLE_PACKETS) throw new Error(`only ${offsets.length} IPv6 packets`);
    const ninth = offsets[V6_WHOLE_PACKETS];
    return file.subarray(0, ninth + RECORD_HEADER_BYTES + V6_TAIL_BYTES);
  } finally {
    await server.stop();
  }
}

export async function recordFixtures(outDir: string): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ph-fixtures-'));
  const net = await createTestNetwork();
  try {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'v4.pcap'), await recordV4(net, work));
    writeFileSync(join(outDir, 'v6.pcap'), await recordV6(net, work));
  } finally {
    await net.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outDir = resolve(process.argv[2] ?? 'test/fixtures');
  recordFixtures(outDir).then(
    () => console.error(`fixtures written to ${outDir}`),
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
