// The daemon end to end, on real packets: two network namespaces joined by a
// veth pair, a TCP server in one and clients in the other, the daemon
// capturing on the server's interface, and this test playing tcp-info's part
// with a small eventsocket server that announces each accepted connection.
// tcpdump captures the same interface independently; tshark reads both.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { fileInWindow } from '../helpers/dates.js';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { readPcapWithTshark, startTcpdump } from '../helpers/captures.js';
import { startCapturingDaemon } from '../helpers/daemonprocess.js';
import { useNetworkFixture } from '../helpers/netfixture.js';
import type { TestNetwork } from '../helpers/netns.js';
import { type AcceptEvent, runTcpClient, startTcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';

const MARKER = 'PH-PRIVATE-MARKER-5c1e9';
const SIGTERM_WAIT_MS = 1000;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

interface ScenarioResult {
  datadir: string;
  /** announcedFrom/To: instants just before and after the Open event was made; its timestamp is between them. */
  announced: Array<{ accept: AcceptEvent; uuid: string; announcedFrom: number; announcedTo: number }>;
  unannounced: AcceptEvent[];
  tcpdumpFile: string;
  metrics: string;
  exitCode: number | null;
  exitMs: number;
  stderr: string;
}

async function runScenario(net: TestNetwork, work: string, flags: string[], ipOptions: boolean): Promise<ScenarioResult> {
  const datadir = join(work, 'data');
  const tcpinfo = new FakeTcpInfo(work);
  await tcpinfo.listen();
  try {
    const tcpdumpFile = join(work, 'all.pcap');
    // Not 'tcp': libpcap's tcp misses TCP behind IPv6 extension headers.
    const tcpdump = await startTcpdump(net, net.serverNs, net.serverIf, tcpdumpFile, 'ip or ip6');
    const daemon = await startCapturingDaemon(net, net.serverNs, [
      '-interface', net.serverIf,
      '-datadir', datadir,
      '-tcpinfo.eventsocket', tcpinfo.path,
      '-prometheusx.listen-address', '127.0.0.1:9990',
      '-uuidwaitduration', '1s',
      '-sigtermwait', `${SIGTERM_WAIT_MS}ms`,
      ...flags,
    ]);
    const { stderr } = daemon;
    await waitFor(() => tcpinfo.connected > 0, 10_000, 'daemon connected to the event socket');
    // tcp-info going away must not stop the daemon: it reconnects, and flows
    // announced after that are saved.
    tcpinfo.dropClients();
    await waitFor(() => tcpinfo.connected === 0, 5_000, 'event socket dropped');
    await waitFor(() => tcpinfo.connected > 0, 10_000, 'daemon reconnected to the event socket');

    const announcedPort = 8080;
    const silentPort = 8081;
    const server = await startTcpServer(net, net.serverNs, [
      { host: net.serverV4, port: announcedPort },
      { host: net.serverV6, port: announcedPort },
      { host: net.serverV4, port: silentPort },
    ]);
    const announced: ScenarioResult['announced'] = [];
    const unannounced: AcceptEvent[] = [];
    const seen = new Set<string>();
    const announcer = setInterval(() => {
      for (const a of server.accepts()) {
        if (seen.has(a.cookie)) continue;
        seen.add(a.cookie);
        if (a.lport === silentPort) {
          unannounced.push(a);
          continue;
        }
        const uuid = `e2e_${a.cookie}`;
        const announcedFrom = Date.now();
        tcpinfo.announce(a, uuid);
        announced.push({ accept: a, uuid, announcedFrom, announcedTo: Date.now() });
      }
    }, 5);
    try {
      const size = 300_000;
      const results = await Promise.all([
        runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port: announcedPort }, count: 3, size, marker: MARKER, ipOptions }),
        runTcpClient(net, net.clientNs, { connect: { host: net.serverV6, port: announcedPort }, count: 3, size, marker: MARKER, ipOptions }),
        runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port: silentPort }, count: 1, size: 1000, marker: MARKER }),
      ]);
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      await waitFor(() => seen.size === 7, 5000, 'every accept announced');
    } finally {
      clearInterval(announcer);
    }
    // Past -uuidwaitduration, the silent connection is abandoned.
    await new Promise((r) => setTimeout(r, 1500));
    const scrape = await net.exec(net.serverNs, [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:9990/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))",
    ]);
    await server.stop();
    const termAt = Date.now();
    const exitCode = await daemon.stop();
    const exitMs = Date.now() - termAt;
    await tcpdump.stop();
    return { datadir, announced, unannounced, tcpdumpFile, metrics: scrape.stdout, exitCode, exitMs, stderr: stderr.text() };
  } finally {
    await tcpinfo.close();
  }
}

function flowFilter(a: AcceptEvent): string {
  const ip = a.remote.includes(':') ? 'ipv6' : 'ip';
  return `${ip}.addr==${a.remote} && tcp.port==${a.rport} && tcp.port==${a.lport}`;
}

for (const mode of [
  { name: 'buffered, no anonymization', flags: [] as string[], netblock: false, ipOptions: false },
  { name: 'streaming, netblock anonymization', flags: ['-stream', '-anonymize.ip=netblock'], netblock: true, ipOptions: false },
  { name: 'buffered, netblock, IPv4 options and IPv6 extension headers', flags: ['-anonymize.ip=netblock'], netblock: true, ipOptions: true },
  { name: 'streaming, no anonymization, IPv4 options and IPv6 extension headers', flags: ['-stream'], netblock: false, ipOptions: true },
  // The interface's packets spread over two capture threads by flow: the same files.
  { name: 'buffered, netblock, two capture threads', flags: ['-anonymize.ip=netblock', '-capturethreads', '2'], netblock: true, ipOptions: false },
]) {
  describe(`daemon on real packets (${mode.name})`, () => {
    const fx = useNetworkFixture('ph-e2e-');
    let r: ScenarioResult;
    before(async () => {
      r = await runScenario(fx.net, fx.work, mode.flags, mode.ipOptions);
    });

    test('SIGTERM: exit 0 within -sigtermwait + 1 s', () => {
      assert.equal(r.exitCode, 0, r.stderr);
      assert.ok(r.exitMs < SIGTERM_WAIT_MS + 1000, `exit took ${r.exitMs} ms`);
    });

    test('one file per announced connection, at <datadir>/YYYY/MM/DD/<UUID>.pcap.gz, mode 0664', () => {
      const files = walk(r.datadir);
      assert.equal(files.length, r.announced.length, files.join('\n'));
      for (const { uuid, announcedFrom, announcedTo } of r.announced) {
        // In the directory of the event's date, whichever day that was.
        const path = fileInWindow(r.datadir, `${uuid}.pcap.gz`, announcedFrom, announcedTo);
        assert.ok(files.includes(path), `missing ${path}`);
        assert.equal(statSync(path).mode & 0o777, 0o664);
        assert.equal(statSync(dirname(path)).mode & 0o777, 0o775);
      }
    });

    test('every packet of each connection is in its file (compared with tcpdump)', async (t) => {
      let packets = 0;
      for (const { accept, uuid, announcedFrom, announcedTo } of r.announced) {
        const fields = ['frame.len', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags'];
        const expected = await readPcapWithTshark(r.tcpdumpFile, fields, flowFilter(accept));
        const file = fileInWindow(r.datadir, `${uuid}.pcap.gz`, announcedFrom, announcedTo);
        const got = await readPcapWithTshark(file, fields);
        assert.ok(expected.length > 200, `${expected.length} packets in tcpdump's capture`);
        // Two packet sockets may see the two directions interleaved differently,
        // so the packets are compared as a multiset, not as a sequence.
        const key = (rows: string[][]) => rows.map((row) => row.join(' ')).sort();
        assert.deepEqual(key(got), key(expected), `packets of ${uuid}`);
        packets += got.length;
      }
      t.diagnostic(`${r.announced.length} flows announced, ${walk(r.datadir).length} files, ${packets} packets in them, all matching tcpdump`);
    });

    test('snaplen = bytes before TCP + 60, and frames are cut to it', async () => {
      for (const { accept, uuid, announcedFrom, announcedTo } of r.announced) {
        const file = fileInWindow(r.datadir, `${uuid}.pcap.gz`, announcedFrom, announcedTo);
        const raw = gunzipSync(readFileSync(file));
        const optionBytes = mode.ipOptions ? (accept.remote.includes(':') ? 8 : 4) : 0;
        const headerLength = (accept.remote.includes(':') ? 14 + 40 + 60 : 14 + 20 + 60) + optionBytes;
        assert.equal(raw.readUInt32LE(0), 0xa1b23c4d);
        assert.equal(raw.readUInt32LE(16), headerLength);
        assert.equal(raw.readUInt32LE(20), 1);
        for (const [len, caplen] of await readPcapWithTshark(file, ['frame.len', 'frame.cap_len'])) {
          assert.equal(Number(caplen), Math.min(Number(len), headerLength));
        }
      }
    });

    test('the marker payload appears in no output', () => {
      for (const file of walk(r.datadir)) {
        const raw = gunzipSync(readFileSync(file));
        assert.equal(raw.indexOf(MARKER), -1, file);
        assert.equal(raw.indexOf(MARKER.slice(0, 8)), -1, file);
      }
    });

    test('a connection never announced leaves no file and is counted', () => {
      assert.equal(r.unannounced.length, 1);
      assert.ok(walk(r.datadir).every((f) => !f.includes(r.unannounced[0].cookie)));
      assert.match(r.metrics, /pcap_saver_errors_total\{reason="uuidtimedout"\} 1\b/);
    });

    test('metrics are served', () => {
      assert.match(r.metrics, /pcap_muxer_interfaces_with_captures 1\b/);
      assert.match(r.metrics, /pcap_demuxer_uuids_total 6\b/);
      assert.match(r.metrics, /pcap_saver_starts_total 7\b/);
      assert.match(r.metrics, /pcap_kernel_dropped_packets_total\{interface="[^"]+"\} 0\b/);
      assert.match(r.metrics, /pcap_tcpinfohandler_connected 1\b/);
      assert.match(r.metrics, /process_resident_memory_bytes \d+/);
    });

    test(`addresses are ${mode.netblock ? 'anonymized to /24 and /48 on the remote side only' : 'as captured'}`, async () => {
      for (const { accept, uuid, announcedFrom, announcedTo } of r.announced) {
        const v6 = accept.remote.includes(':');
        const file = fileInWindow(r.datadir, `${uuid}.pcap.gz`, announcedFrom, announcedTo);
        const rows = await readPcapWithTshark(file, v6 ? ['ipv6.src', 'ipv6.dst'] : ['ip.src', 'ip.dst']);
        const remote = !mode.netblock ? accept.remote : v6 ? mask48(accept.remote) : accept.remote.replace(/\.\d+$/, '.0');
        for (const [src, dst] of rows) {
          assert.deepEqual([src, dst].sort(), [accept.local, remote].sort());
        }
      }
      if (mode.netblock) {
        for (const { accept } of r.announced) assert.ok(!r.stderr.includes(accept.remote), 'no full remote address in the log');
      }
    });
  });
}

/** The /48 of an fd00:a:b:c::2 style address, as tshark prints it. */
function mask48(address: string): string {
  const groups = address.split(':').filter((g) => g !== '');
  return `${groups.slice(0, 3).join(':')}::`;
}
