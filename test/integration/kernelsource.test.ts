// The built-in flow source on real sockets: the daemon runs in the server's
// namespace without -tcpinfo.eventsocket and names every flow from the
// kernel's socket table. The TCP peer prints the SO_COOKIE of each accepted
// socket, so the expected file name of every connection is known exactly;
// tcpdump captures the same interface, and every file must hold exactly its
// connection's packets.
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { DAEMON_BIN, REPO, startCapturingDaemon, type DaemonProcess } from '../helpers/daemonprocess.js';
import { compareWithTcpdump, startReferenceCapture, type FlowComparison } from '../helpers/flowcompare.js';
import { walkFiles } from '../helpers/files.js';
import { useNetworkFixture } from '../helpers/netfixture.js';
import type { TestNetwork } from '../helpers/netns.js';
import { LineCollector } from '../helpers/processes.js';
import { type AcceptEvent, runTcpClient, startTcpServer, TCP_PEER_ARGV, type TcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';
import { metricSum, scrapeMetrics } from '../helpers/scrape.js';

const PREFIX = 'kstest-site1_1700000000';


/** YYYY/MM/DD of a time, UTC. */
function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '/');
}

/**
 * The file's date directory is the UTC date of its flow's Open event, which
 * came between `from` and `to`: either day is right when the test spans midnight.
 */
function assertDated(datadir: string, file: string, from: number, to: number): void {
  const days = new Set([day(from), day(to)]);
  assert.ok([...days].some((d) => file.startsWith(join(datadir, d) + '/')), `${file} is not under ${[...days].join(' or ')}`);
}

function assertSameAsTcpdump(c: FlowComparison, connections: number): void {
  const show = (list: string[]) => `${list.length}: ${list.slice(0, 3).join('; ')}`;
  assert.equal(c.split.length, 0, `connections split over two files, ${show(c.split)}`);
  assert.equal(c.missing.length, 0, `connections in no file, ${show(c.missing)}`);
  assert.equal(c.mixed.length, 0, `files with other than one connection, ${show(c.mixed)}`);
  assert.equal(c.differing.length, 0, `connections whose packets differ from tcpdump's, ${show(c.differing)}`);
  assert.equal(c.connections, connections, "connections in tcpdump's capture");
  assert.equal(c.files, connections, 'files');
}

/** A metric's value; a labelled one that never counted is absent, `absent` then. */
function metricValue(metrics: string, name: string, absent?: number): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined && absent !== undefined) return absent;
  assert.ok(line !== undefined, `${name} not in the metrics`);
  return Number(line.split(' ')[1]);
}

/** The FIN_WAIT2 test's verdict: its flow's packets were captured, and nothing named them. */
function assertNamesNothing(metrics: string, ss: string, files: string[]): void {
  assert.ok(metricValue(metrics, 'pcap_saver_starts_total') >= 1, 'the client\'s FIN started a flow');
  assert.equal(metricValue(metrics, 'pcap_kernelsource_uuids_assigned_total{how="poll"}'), 0, `a poll named the time-wait socket ${ss.trim()}`);
  assert.deepEqual(files, [], 'no file is named after the time-wait socket\'s cookie');
}

async function startDaemon(net: TestNetwork, datadir: string, prefixFile: string, extra: string[] = []): Promise<DaemonProcess> {
  const daemon = await startCapturingDaemon(net, net.serverNs, [
    '-interface', net.serverIf,
    '-datadir', datadir,
    '-uuid-prefix-file', prefixFile,
    '-prometheusx.listen-address', '127.0.0.1:9990',
    '-sigtermwait', '300ms',
    ...extra,
  ]);
  assert.ok(daemon.stderr.text().includes(`UUID prefix "${PREFIX}"`), daemon.stderr.text());
  return daemon;
}

describe('built-in flow source (kernel socket table)', () => {
  const fx = useNetworkFixture('ph-kernel-');
  let server: TcpServer;
  let prefixFile: string;
  const port = 8090;

  before(async () => {
    prefixFile = join(fx.work, 'prefix');
    writeFileSync(prefixFile, `\n  ${PREFIX}  \n`);
    server = await fx.startServer([
      { host: fx.net.serverV4, port },
      { host: fx.net.serverV6, port },
    ]);
  });

  /** Accept events that came after the first `skip`, once there are `count` of them. */
  async function newAccepts(skip: number, count: number): Promise<AcceptEvent[]> {
    return waitFor(() => {
      const all = server.accepts();
      return all.length >= skip + count ? all.slice(skip) : null;
    }, 10_000, `${count} accepts`);
  }

  test('UUID = <prefix>_<SO_COOKIE as %016X>, one file per connection with its packets (as tcpdump saw them), IPv4 and IPv6', async (t) => {
    const { net, work } = fx;
    const datadir = join(work, 'uuid');
    const tcpdump = await startReferenceCapture(net, net.serverNs, net.serverIf, join(work, 'uuid.pcap'));
    const daemon = await startDaemon(net, datadir, prefixFile);
    const skip = server.accepts().length;
    const startedAt = Date.now();
    const results = await Promise.all([
      runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port }, count: 5, size: 2000 }),
      runTcpClient(net, net.clientNs, { connect: { host: net.serverV6, port }, count: 5, size: 2000 }),
    ]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const accepts = await newAccepts(skip, 10);
    assert.equal(accepts.length, 10);
    assert.equal(await daemon.stop(), 0, daemon.stderr.text());
    await tcpdump.stop();
    const endedAt = Date.now();

    const files = walkFiles(datadir);
    const names = files.map((f) => basename(f)).sort();
    const expected = accepts.map((a) => `${PREFIX}_${a.cookie}.pcap.gz`).sort();
    for (const a of accepts) assert.match(a.cookie, /^[0-9A-F]{16}$/);
    assert.deepEqual(names, expected, daemon.stderr.text());
    for (const f of files) assertDated(datadir, f, startedAt, endedAt);
    assert.ok(accepts.some((a) => a.remote.includes(':')) && accepts.some((a) => !a.remote.includes(':')));
    const c = await compareWithTcpdump(tcpdump.file, files, (key) => key.includes(`|${port}|`) || key.endsWith(`|${port}`));
    assertSameAsTcpdump(c, 10);
    for (const a of accepts) {
      const family = a.remote.includes(':') ? 6 : 4;
      assert.equal(c.fileOf.get(`${family}|${Math.min(a.lport, a.rport)}|${Math.max(a.lport, a.rport)}`), files.find((f) => f.includes(a.cookie)));
    }
    t.diagnostic(`${names.length} files, e.g. ${names[0]}; ${c.packets} packets, all as tcpdump saw them`);
  });

  test('2,000 short connections (HTTP and the test peer): each in exactly one file, named by the accepted socket, packets equal to tcpdump\'s', async (t) => {
    const { net, work } = fx;
    // python3 -m http.server closes first, so its sockets end in TIME_WAIT,
    // and nothing reads their cookie: the TIME_WAIT socket's cookie is then
    // not the accepted socket's. Its small accept queue (5) also keeps
    // request sockets (SYN_RECV) waiting. Neither may name a flow.
    // Ports of their own: no 4-tuple of an earlier test's sockets can come back here.
    const httpPort = 8091;
    const peerPort = 8092;
    const peerServer = await startTcpServer(net, net.serverNs, [{ host: net.serverV4, port: peerPort }]);
    t.after(() => peerServer.stop());
    const datadir = join(work, 'short');
    const web = net.spawn(net.serverNs, [TCP_PEER_ARGV[0], '-u', '-m', 'http.server', '--bind', net.serverV4, String(httpPort)], { cwd: work });
    web.stderr?.resume(); // one line per request
    const webOut = new LineCollector(web.stdout);
    await waitFor(() => webOut.text().includes('Serving HTTP') || web.exitCode !== null, 10_000, 'http.server listening');
    assert.equal(web.exitCode, null, 'http.server exited');
    const tcpdump = await startReferenceCapture(net, net.serverNs, net.serverIf, join(work, 'short.pcap'));
    const daemon = await startDaemon(net, datadir, prefixFile);
    const startedAt = Date.now();
    const [peer, http] = await Promise.all([
      runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port: peerPort }, count: 1000, concurrency: 20, size: 100, timeoutS: 10 }),
      net.exec(net.clientNs, [TCP_PEER_ARGV[0], join(REPO, 'test/helpers/http_load.py'), net.serverV4, String(httpPort), '1000', '20'], { timeoutMs: 60_000 }),
    ]);
    const clientMs = Date.now() - startedAt;
    assert.equal(peer.summary?.ok, 1000, peer.stderr + JSON.stringify(peer.summary?.errors.slice(0, 5)));
    assert.equal(http.code, 0, http.stdout + http.stderr);
    const accepts = await waitFor(() => (peerServer.accepts().length >= 1000 ? peerServer.accepts() : null), 10_000, '1000 accepts');
    // Destroy reports and polls name the last connections within ~100 ms; the flows stay open (30 s timeout).
    await new Promise((r) => setTimeout(r, 1000));
    const metrics = await scrapeMetrics(net);
    assert.equal(await daemon.stop(), 0, daemon.stderr.text());
    await tcpdump.stop();
    const endedAt = Date.now();
    web.kill('SIGTERM');

    const files = walkFiles(datadir);
    const c = await compareWithTcpdump(tcpdump.file, files, (key) => key.startsWith('4|'));
    const figure =
      `kernel flow source: 2,000 connections (1,000 HTTP, 1,000 test peer) in ${clientMs} ms: ${c.connections} in tcpdump's capture, ` +
      `${c.files} files, ${c.split.length} split, ${c.missing.length} missing, ${c.differing.length} differing from tcpdump, ${c.packets} packets; ` +
      `renamed ${metricValue(metrics, 'pcap_flows_renamed_total')}, uuidtimedout ${metricValue(metrics, 'pcap_saver_errors_total{reason="uuidtimedout"}', 0)}, ` +
      `lookups ${metricValue(metrics, 'pcap_kernelsource_lookups_total')}, lookup misses ${metricValue(metrics, 'pcap_kernelsource_lookup_misses_total')}`;
    const renames = daemon.stderr.lines.filter((l) => l.includes('another UUID'));
    console.log([figure, ...renames].join('\n'));
    t.diagnostic([figure, ...renames].join(' | '));
    // Under load the server's socket can become a time-wait socket before the
    // client's FIN comes: the kernel reports it in FIN_WAIT2, with a cookie
    // nobody saw. It must not name the flow (it split one HTTP connection in
    // about ten runs of this test before it was known by its timer).
    assertSameAsTcpdump(c, 2000);
    assert.equal(metricValue(metrics, 'pcap_flows_renamed_total'), 0, daemon.stderr.lines.filter((l) => l.includes('another UUID')).join('\n'));
    for (const a of accepts) {
      const file = c.fileOf.get(`4|${Math.min(a.lport, a.rport)}|${Math.max(a.lport, a.rport)}`);
      assert.equal(file === undefined ? undefined : basename(file), `${PREFIX}_${a.cookie}.pcap.gz`, 'the test peer\'s connection is named by its accepted socket');
    }
    for (const f of files) {
      assert.match(basename(f), new RegExp(`^${PREFIX}_[0-9A-F]{16}\\.pcap\\.gz$`));
      assertDated(datadir, f, startedAt, endedAt);
    }
    assert.equal(metricValue(metrics, 'pcap_flows_tuple_reused_total'), 0);
    // A second after the last packet, the kernel's count is current: it was
    // read once a second, and stayed short by what came after the last reading.
    const handled = metricSum(metrics, /^pcap_(saver_packets_total|missed_packets_total|demuxer_ignored_total|demuxer_bad_packets_total)[ {]/);
    assert.equal(metricSum(metrics, /^pcap_kernel_received_packets_total[ {]/), handled, 'the kernel counted every packet the daemon handled');
  });

  test('a time-wait socket in FIN_WAIT2 (the server closed, the client has not) names no flow: its cookie is none an application saw', async () => {
    const { net, work } = fx;
    const holdPort = 8093;
    const datadir = join(work, 'finwait2');
    const python = TCP_PEER_ARGV[0];
    const serverCode = `import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('${net.serverV4}', ${holdPort})); s.listen()\nprint('listening', flush=True)\nc, _ = s.accept(); c.close(); print('closed', flush=True)`;
    const clientCode = `import socket, time\nc = socket.create_connection(('${net.serverV4}', ${holdPort}))\nc.recv(1); print('eof', flush=True)\ntime.sleep(3); c.close()`;
    const srv = net.spawn(net.serverNs, [python, '-c', serverCode]);
    const srvOut = new LineCollector(srv.stdout);
    await waitFor(() => srvOut.text().includes('listening') || srv.exitCode !== null, 10_000, 'server listening');
    const cli = net.spawn(net.clientNs, [python, '-c', clientCode]);
    const cliOut = new LineCollector(cli.stdout);
    const cliExited = new Promise((resolve) => cli.on('exit', resolve));
    await waitFor(() => cliOut.text().includes('eof') || cli.exitCode !== null, 10_000, 'client saw the server close');
    // The server's socket is gone; the kernel keeps a time-wait socket, reported in FIN_WAIT2 until the client's FIN.
    const ss = await waitFor(async () => {
      const r = await net.exec(net.serverNs, ['ss', '-tanoH', 'state', 'fin-wait-2', `( sport = :${holdPort} )`]);
      return r.stdout.includes('timewait') ? r.stdout : null;
    }, 2_000, 'a FIN_WAIT2 time-wait socket');
    const daemon = await startDaemon(net, datadir, prefixFile);
    await cliExited; // its FIN, and the time-wait socket's ACK, are captured
    await new Promise((r) => setTimeout(r, 500));
    const metrics = await scrapeMetrics(net);
    assert.equal(await daemon.stop(), 0, daemon.stderr.text());
    assertNamesNothing(metrics, ss, walkFiles(datadir));
  });

  test('a restart keeps the UUID of a connection that survives it', async () => {
    const { net, work } = fx;
    // A client that holds one connection and sends a few bytes every 100 ms
    // (the server echoes them), so each run of the daemon sees packets.
    const skip = server.accepts().length;
    const holder = net.spawn(net.clientNs, [
      process.execPath,
      '-e',
      `const s = require('node:net').connect(${port}, ${JSON.stringify(net.serverV4)});
       s.on('data', () => {});
       s.on('error', (e) => { console.error(e.message); process.exit(1); });
       setInterval(() => s.write('ping'), 100);
       setTimeout(() => process.exit(0), 60000);`,
    ]);
    const holderErr = new LineCollector(holder.stderr);
    holder.stdout?.resume();
    const [accept] = await newAccepts(skip, 1);
    // Both runs started after the connection: each run's file is a continuation (docs/output.md) of its UUID.
    const expected = new RegExp(`^${PREFIX}_${accept.cookie}\\.\\d{8}T\\d{6}\\.\\d{3}Z\\.pcap\\.gz$`);

    const names: string[][] = [];
    for (const run of ['first', 'second']) {
      const datadir = join(work, `restart-${run}`);
      const daemon = await startDaemon(net, datadir, prefixFile);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await daemon.stop(), 0, daemon.stderr.text());
      names.push(walkFiles(datadir).map((f) => basename(f)));
    }
    assert.equal(holder.exitCode, null, `the connection did not survive: ${holderErr.text()}`);
    holder.kill('SIGTERM');
    for (const [run, files] of names.entries()) {
      assert.equal(files.length, 1, `run ${run + 1}: ${files.join(', ')}`);
      assert.match(files[0], expected, `run ${run + 1}`);
    }
  });

  test('an unreadable or empty -uuid-prefix-file is a start-up error: one line, exit 1', async () => {
    const { net, work } = fx;
    const empty = join(work, 'empty-prefix');
    writeFileSync(empty, ' \n');
    for (const [file, pattern] of [
      [join(work, 'missing-prefix'), /cannot read -uuid-prefix-file ".*missing-prefix": no such file or directory \(ENOENT\)/],
      [empty, /-uuid-prefix-file ".*empty-prefix" is empty/],
    ] as const) {
      const r = await net.exec(net.serverNs, [
        process.execPath, DAEMON_BIN, '-interface', net.serverIf, '-datadir', join(work, 'never'), '-uuid-prefix-file', file,
        '-prometheusx.listen-address', '127.0.0.1:0',
      ]);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, pattern);
    }
  });
});
