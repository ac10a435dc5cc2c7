// Proves the namespace harness works: traffic flows over IPv4 and IPv6, the TCP
// peer reports cookies, tcpdump/tshark see the flows, and everything is cleaned
// up, also when the process using the harness fails or is killed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readPcapWithTshark, startTcpdump } from '../helpers/captures.js';
import { createTestNetwork, listNamespaces, sweepStaleTestNetworks, type TestNetwork } from '../helpers/netns.js';
import { processAlive } from '../helpers/processes.js';
import { runTcpClient, startTcpServer, tcpReachable } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';

const here = dirname(fileURLToPath(import.meta.url));
const HARNESS_URL = pathToFileURL(resolve(here, '../helpers/netns.js')).href;
const work = mkdtempSync(join(tmpdir(), 'ph-netns-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

const hasPing = ['/usr/bin/ping', '/bin/ping', '/usr/sbin/ping', '/sbin/ping'].some((p) => existsSync(p));
const COOKIE = /^[0-9A-F]{16}$/;

async function reachable(net: TestNetwork, host: string, port: number): Promise<void> {
  if (hasPing) {
    const r = await net.exec(net.clientNs, ['ping', '-c', '1', '-W', '2', host], { timeoutMs: 5000 });
    assert.equal(r.code, 0, `ping ${host}: ${r.stdout}${r.stderr}`);
  } else {
    assert.ok(await tcpReachable(net, net.clientNs, { host, port }), `TCP to ${host}:${port}`);
  }
}

test('traffic over IPv4 and IPv6 is echoed, captured and read back; destroy cleans up', { timeout: 45_000 }, async () => {
  const net = await createTestNetwork();
  let tracked: ChildProcess[] = [];
  try {
    assert.ok(net.serverIf.length <= 15 && net.clientIf.length <= 15);
    assert.ok(listNamespaces().includes(net.serverNs) && listNamespaces().includes(net.clientNs));
    assert.match(net.serverV4, /^10\./);
    assert.match(net.serverV6, /^fd00:/);

    const server = await startTcpServer(net, net.serverNs, [
      { host: net.serverV4, port: 0 },
      { host: net.serverV6, port: 0 },
    ]);
    const [p4, p6] = server.listening.map((a) => a.port);
    assert.equal(server.listening.length, 2);
    await reachable(net, net.serverV4, p4);
    await reachable(net, net.serverV6, p6);

    const pcap = join(work, 'server.pcap');
    const dump = await startTcpdump(net, net.serverNs, net.serverIf, pcap, `tcp and (port ${p4} or port ${p6})`);
    await waitFor(() => server.closes().length === server.accepts().length, 5000, 'reachability connections closed');
    const before = server.accepts().length;

    const size = 100 * 1024;
    const [c4, c6] = await Promise.all([
      runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port: p4 }, count: 5, size }),
      runTcpClient(net, net.clientNs, { connect: { host: net.serverV6, port: p6 }, count: 5, size, concurrency: 2 }),
    ]);
    for (const c of [c4, c6]) {
      assert.equal(c.code, 0, c.stderr + JSON.stringify(c.summary));
      assert.deepEqual({ ok: c.summary?.ok, failed: c.summary?.failed }, { ok: 5, failed: 0 });
      assert.equal(c.summary?.bytesReceived, 5 * size);
      assert.equal(c.connections.length, 5);
    }

    await waitFor(() => server.closes().length >= before + 10, 5000, '10 closed events');
    const accepts = server.accepts().slice(before);
    assert.equal(accepts.length, 10);
    for (const a of accepts) assert.match(a.cookie, COOKIE);
    assert.equal(new Set(accepts.map((a) => a.cookie)).size, 10, 'cookies are distinct');
    assert.equal(accepts.filter((a) => a.remote === net.clientV4 && a.local === net.serverV4).length, 5);
    assert.equal(accepts.filter((a) => a.remote === net.clientV6 && a.local === net.serverV6).length, 5);
    // The server's accept events match the client's view of the same connections.
    const clientPorts = new Set([...c4.connections, ...c6.connections].map((c) => c.lport));
    for (const a of accepts) assert.ok(clientPorts.has(a.rport));
    for (const c of server.closes().slice(before)) assert.equal(c.bytes, size);

    const stderr = await dump.stop();
    assert.match(stderr, /packets captured/);
    await server.stop();

    const rows = await readPcapWithTshark(pcap, ['tcp.stream', 'frame.len', 'tcp.srcport', 'tcp.dstport']);
    const streams = new Set(rows.map((r) => r[0]));
    assert.equal(streams.size, 10, `tcp.stream values: ${[...streams].join(' ')}`);
    assert.ok(rows.length > 10 * 2 * (size / 1500), `enough segments: ${rows.length}`);
    if (net.offloadsDisabled) {
      const maxLen = Math.max(...rows.map((r) => Number(r[1])));
      assert.ok(maxLen <= 1514, `no super-segments with offloads off (max frame ${maxLen})`);
    }
    // The same capture gzipped reads the same.
    writeFileSync(`${pcap}.gz`, gzipSync(readFileSync(pcap)));
    const gzRows = await readPcapWithTshark(`${pcap}.gz`, ['tcp.stream'], 'tcp.flags.syn == 1 && tcp.flags.ack == 0');
    assert.equal(gzRows.length, 10);
  } finally {
    tracked = net.trackedProcesses();
    await net.destroy(); // in finally: runs whatever failed above
  }
  // Reached only when the body passed (a failure above is reported as is).
  await net.destroy(); // idempotent
  assert.ok(tracked.length >= 2, 'server and tcpdump were tracked');
  const names = listNamespaces();
  assert.ok(!names.includes(net.serverNs) && !names.includes(net.clientNs), 'namespaces deleted');
  for (const c of tracked) assert.ok(!processAlive(c.pid!), `pid ${c.pid} gone`);
});

test('two networks at once get different names and addresses; both are destroyed', { timeout: 30_000 }, async () => {
  const nets = await Promise.all([createTestNetwork(), createTestNetwork()]);
  const [a, b] = nets;
  let tracked: ChildProcess[] = [];
  try {
    const sleeper = a.spawn(a.clientNs, ['sleep', '30']);
    const namesA = [a.serverNs, a.clientNs, a.serverIf, a.clientIf];
    const namesB = [b.serverNs, b.clientNs, b.serverIf, b.clientIf];
    assert.equal(new Set([...namesA, ...namesB]).size, 8);
    const addrs = [a.serverV4, a.clientV4, a.serverV6, a.clientV6, b.serverV4, b.clientV4, b.serverV6, b.clientV6];
    assert.equal(new Set(addrs).size, 8);
    for (const n of nets) {
      const r = await n.exec(n.serverNs, ['ip', '-o', 'addr', 'show', 'dev', n.serverIf], { check: true });
      assert.ok(r.stdout.includes(`${n.serverV4}/${n.v4PrefixLen}`) && r.stdout.includes(`${n.serverV6}/${n.v6PrefixLen}`));
      // A namespace sees only its own veth end.
      const other = await n.exec(n.serverNs, ['ip', 'link', 'show', 'dev', n.clientIf]);
      assert.notEqual(other.code, 0);
    }
    assert.ok(processAlive(sleeper.pid!));
    const timed = await a.exec(a.serverNs, ['sleep', '10'], { timeoutMs: 200 });
    assert.equal(timed.timedOut, true);
    await assert.rejects(a.exec(a.serverNs, ['false'], { check: true }));
  } finally {
    tracked = nets.flatMap((n) => n.trackedProcesses());
    await Promise.all(nets.map((n) => n.destroy()));
  }
  assert.ok(tracked.length >= 1);
  const names = listNamespaces();
  for (const n of nets) assert.ok(!names.includes(n.serverNs) && !names.includes(n.clientNs));
  for (const c of tracked) assert.ok(!processAlive(c.pid!));
});

interface ChildInfo {
  serverNs: string;
  clientNs: string;
  sleeperPid: number;
}

/** Runs a script that creates a network, starts a sleeper in it, writes INFO, then fails in `mode`. */
async function runFailingChild(mode: 'throw' | 'reject' | 'exit' | 'sigterm' | 'sigkill' | 'node-test'): Promise<{ info: ChildInfo; code: number | null; signal: string | null; output: string }> {
  const infoFile = join(work, `info-${mode}.json`);
  const script = join(work, `child-${mode}.mjs`);
  const body = `
import { writeFileSync } from 'node:fs';
import { createTestNetwork } from ${JSON.stringify(HARNESS_URL)};
async function setup() {
  const net = await createTestNetwork();
  const sleeper = net.spawn(net.serverNs, ['sleep', '60']);
  writeFileSync(${JSON.stringify(infoFile)}, JSON.stringify({ serverNs: net.serverNs, clientNs: net.clientNs, sleeperPid: sleeper.pid }));
  return net;
}
`;
  const tails: Record<typeof mode, string> = {
    throw: `await setup(); setTimeout(() => { throw new Error('deliberate uncaught error'); }, 10);`,
    reject: `await setup(); throw new Error('deliberate top-level rejection');`,
    exit: `await setup(); process.exit(3);`,
    sigterm: `await setup(); setTimeout(() => {}, 20000);`,
    sigkill: `await setup(); setTimeout(() => {}, 20000);`,
    'node-test': `import { test, after } from 'node:test';
let net;
after(() => net?.destroy());
test('a failing test body', async () => { net = await setup(); throw new Error('deliberate test failure'); });`,
  };
  writeFileSync(script, body + tails[mode] + '\n');
  const args = mode === 'node-test' ? ['--test', '--test-reporter=tap', script] : [script];
  // A child `node --test` must not think it reports to our test runner.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (b) => (output += b));
  child.stderr.on('data', (b) => (output += b));
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) =>
    child.once('exit', (code, signal) => res({ code, signal })),
  );
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  try {
    const info = await waitFor(
      () => (existsSync(infoFile) ? (JSON.parse(readFileSync(infoFile, 'utf8')) as ChildInfo) : null),
      15_000,
      `child (${mode}) to create its network`,
    );
    if (mode === 'sigterm') child.kill('SIGTERM');
    if (mode === 'sigkill') child.kill('SIGKILL');
    const { code, signal } = await exited;
    return { info, code, signal, output };
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

for (const mode of ['throw', 'reject', 'exit', 'sigterm', 'node-test'] as const) {
  test(`a process that fails (${mode}) still removes its namespaces and processes`, { timeout: 30_000 }, async () => {
    const { info, code, signal, output } = await runFailingChild(mode);
    assert.ok(code !== 0, `child failed (code ${code}, signal ${signal})\n${output}`);
    if (mode === 'sigterm') assert.equal(signal, 'SIGTERM');
    if (mode === 'throw') assert.match(output, /deliberate uncaught error/);
    if (mode === 'node-test') assert.match(output, /deliberate test failure/);
    const names = listNamespaces();
    assert.ok(!names.includes(info.serverNs) && !names.includes(info.clientNs), `namespaces of ${mode} child removed`);
    await waitFor(() => !processAlive(info.sleeperPid), 2000, `sleeper ${info.sleeperPid} gone`);
  });
}

test('namespaces of a SIGKILLed process are swept by the next run', { timeout: 30_000 }, async () => {
  const { info, signal } = await runFailingChild('sigkill');
  assert.equal(signal, 'SIGKILL');
  try {
    assert.ok(listNamespaces().includes(info.serverNs), 'SIGKILL leaves the namespaces behind');
    const removed = sweepStaleTestNetworks();
    assert.ok(removed.includes(info.serverNs) && removed.includes(info.clientNs), `swept: ${removed.join(' ')}`);
    assert.ok(!listNamespaces().includes(info.serverNs));
  } finally {
    // Nothing could clean up after SIGKILL: end the sleeper we started (its own process group).
    try {
      process.kill(-info.sleeperPid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});
