// The built-in flow source on real sockets: the daemon runs in the server's
// namespace without -tcpinfo.eventsocket and names every flow from the
// kernel's socket table. The TCP peer prints the SO_COOKIE of each accepted
// socket, so the expected file name of every connection is known exactly.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  createTestNetwork,
  LineCollector,
  runTcpClient,
  startTcpServer,
  waitFor,
  type AcceptEvent,
  type TcpServer,
  type TestNetwork,
} from '../helpers/netns.js';

const repo = join(import.meta.dirname, '../../..');
const bin = join(repo, 'bin/packet-headers.js');
const PREFIX = 'kstest-site1_1700000000';

function walk(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** YYYY/MM/DD of a time, UTC. */
function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '/');
}

interface RunningDaemon {
  child: ChildProcess;
  stderr: LineCollector;
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

async function startDaemon(net: TestNetwork, datadir: string, prefixFile: string, extra: string[] = []): Promise<RunningDaemon> {
  const child = net.spawn(net.serverNs, [
    process.execPath,
    bin,
    '-interface', net.serverIf,
    '-datadir', datadir,
    '-uuid-prefix-file', prefixFile,
    '-prometheusx.listen-address', '127.0.0.1:9990',
    '-sigtermwait', '300ms',
    ...extra,
  ]);
  const stderr = new LineCollector(child.stderr);
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => stderr.lines.some((l) => l.includes('capturing on')) || child.exitCode !== null, 15_000, 'daemon capturing');
  assert.equal(child.exitCode, null, `daemon exited early: ${stderr.text()}`);
  assert.ok(stderr.text().includes(`UUID prefix "${PREFIX}"`), stderr.text());
  return {
    child,
    stderr,
    exited,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

describe('built-in flow source (kernel socket table)', () => {
  let net: TestNetwork;
  let server: TcpServer;
  let work: string;
  let prefixFile: string;
  const port = 8090;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'ph-kernel-'));
    prefixFile = join(work, 'prefix');
    writeFileSync(prefixFile, `\n  ${PREFIX}  \n`);
    net = await createTestNetwork();
    server = await startTcpServer(net, net.serverNs, [
      { host: net.serverV4, port },
      { host: net.serverV6, port },
    ]);
  });

  after(async () => {
    await server?.stop();
    await net?.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  /** Accept events that came after the first `skip`, once there are `count` of them. */
  async function newAccepts(skip: number, count: number): Promise<AcceptEvent[]> {
    return waitFor(() => {
      const all = server.accepts();
      return all.length >= skip + count ? all.slice(skip) : null;
    }, 10_000, `${count} accepts`);
  }

  test('UUID = <prefix>_<SO_COOKIE as %016X>, one file per connection, IPv4 and IPv6', async (t) => {
    const datadir = join(work, 'uuid');
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

    const days = new Set([day(startedAt), day(Date.now())]);
    const files = walk(datadir);
    const names = files.map((f) => basename(f)).sort();
    const expected = accepts.map((a) => `${PREFIX}_${a.cookie}.pcap.gz`).sort();
    for (const a of accepts) assert.match(a.cookie, /^[0-9A-F]{16}$/);
    assert.deepEqual(names, expected, daemon.stderr.text());
    for (const f of files) assert.ok([...days].some((d) => f.startsWith(join(datadir, d) + '/')), f);
    assert.ok(accepts.some((a) => a.remote.includes(':')) && accepts.some((a) => !a.remote.includes(':')));
    t.diagnostic(`${names.length} files, e.g. ${names[0]}`);
  });

  test('short connections: at least 99 % of 1,000 get their file', async (t) => {
    const datadir = join(work, 'short');
    const daemon = await startDaemon(net, datadir, prefixFile);
    const skip = server.accepts().length;
    const started = Date.now();
    const r = await runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port }, count: 1000, concurrency: 20, size: 100, timeoutS: 10 });
    const clientMs = Date.now() - started;
    assert.equal(r.summary?.ok, 1000, r.stderr + JSON.stringify(r.summary?.errors.slice(0, 5)));
    const accepts = await newAccepts(skip, 1000);
    const scrape = await net.exec(net.serverNs, [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:9990/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))",
    ]);
    assert.equal(await daemon.stop(), 0, daemon.stderr.text());

    const names = new Set(walk(datadir).map((f) => basename(f)));
    const covered = accepts.filter((a) => names.has(`${PREFIX}_${a.cookie}.pcap.gz`)).length;
    const share = covered / accepts.length;
    const metric = (name: string) =>
      scrape.stdout.split('\n').filter((l) => l.startsWith(name)).map((l) => l.replace(/^pcap_kernelsource_/, '')).join(', ');
    const figure =
      `kernel flow source coverage: ${covered}/${accepts.length} short connections (${(share * 100).toFixed(1)} %) ` +
      `got their file; client run ${clientMs} ms; ${names.size} files in all; ` +
      `${metric('pcap_kernelsource_uuids_assigned_total')}; ${metric('pcap_kernelsource_lookup')}`;
    console.log(figure);
    t.diagnostic(figure);
    assert.ok(share >= 0.99, figure);
  });

  test('a restart keeps the UUID of a connection that survives it', async () => {
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
    const expected = `${PREFIX}_${accept.cookie}.pcap.gz`;

    const names: string[][] = [];
    for (const run of ['first', 'second']) {
      const datadir = join(work, `restart-${run}`);
      const daemon = await startDaemon(net, datadir, prefixFile);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await daemon.stop(), 0, daemon.stderr.text());
      names.push(walk(datadir).map((f) => basename(f)));
    }
    assert.equal(holder.exitCode, null, `the connection did not survive: ${holderErr.text()}`);
    holder.kill('SIGTERM');
    assert.deepEqual(names[0], [expected], 'first run');
    assert.deepEqual(names[1], [expected], 'second run');
  });

  test('an unreadable or empty -uuid-prefix-file is a start-up error: one line, exit 1', async () => {
    const empty = join(work, 'empty-prefix');
    writeFileSync(empty, ' \n');
    for (const [file, pattern] of [
      [join(work, 'missing-prefix'), /cannot read -uuid-prefix-file ".*missing-prefix": ENOENT/],
      [empty, /-uuid-prefix-file ".*empty-prefix" is empty/],
    ] as const) {
      const r = await net.exec(net.serverNs, [
        process.execPath, bin, '-interface', net.serverIf, '-datadir', join(work, 'never'), '-uuid-prefix-file', file,
        '-prometheusx.listen-address', '127.0.0.1:0',
      ]);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, pattern);
    }
  });
});
