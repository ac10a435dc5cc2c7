// Running without root: -user drops to a user after the captures are open,
// and a daemon started with only CAP_NET_RAW (no root at all) works too.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { compareWithTcpdump, startReferenceCapture } from '../helpers/flowcompare.js';
import { readPcapWithTshark } from '../helpers/captures.js';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { LineCollector, processAlive } from '../helpers/processes.js';
import { type AcceptEvent, runTcpClient, startTcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';

const repo = join(import.meta.dirname, '../../..');
const bin = join(repo, 'bin/packet-headers.js');
const work = mkdtempSync(join(tmpdir(), 'ph-user-'));
// mkdtemp makes the directory 0700; nobody must be able to reach the datadir in it.
chmodSync(work, 0o755);
after(() => rmSync(work, { recursive: true, force: true }));

const NOBODY = 65534;
/** setpriv (util-linux): become nobody with no capability but CAP_NET_RAW, the way a service manager would start it. */
const NET_RAW_ONLY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all,+net_raw', '--ambient-caps=-all,+net_raw', '--bounding-set=-all,+net_raw'];
const NO_CAPABILITIES = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];

function field(pid: number, name: string): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return line?.split(/\s+/)[1] ?? '';
}

function datadirFor(name: string): string {
  const datadir = join(work, name);
  mkdirSync(datadir, { mode: 0o775 });
  chownSync(datadir, NOBODY, NOBODY);
  return datadir;
}

function pcapFiles(datadir: string): string[] {
  return readdirSync(datadir, { recursive: true }).map(String).filter((f) => f.endsWith('.pcap.gz'));
}

interface Daemon {
  child: ChildProcess;
  stderr: LineCollector;
  /** SIGTERM (SIGKILL after 10 s), then the exit code; bounded, for finally blocks. */
  stop(): Promise<number | null>;
}

function startDaemon(wrapper: string[], args: string[]): Daemon {
  const argv = [...wrapper, process.execPath, bin, '-interface', 'lo', '-prometheusx.listen-address', '127.0.0.1:0', '-sigtermwait', '200ms', ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = new LineCollector(child.stderr);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Rejects if `promise` takes longer than `ms`, so no wait in this file is unbounded. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One short loopback conversation; resolves with the client's port once it is closed. */
function converse(port: number): Promise<number> {
  return within(conversation(port), 10_000, 'loopback conversation');
}

async function conversation(port: number): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('error', reject));
  const localPort = socket.localPort!;
  socket.resume(); // read the echo, so that 'close' can come
  socket.write('hello');
  await new Promise((r) => setTimeout(r, 200));
  socket.end();
  await new Promise((r) => socket.once('close', r));
  return localPort;
}

test('-user nobody: the running daemon has nobody\'s uid and still writes files', async () => {
  const datadir = datadirFor('as-user');
  const tcpinfo = new FakeTcpInfo(work);
  await tcpinfo.listen();
  const { server, port } = await echoServer();
  const startedAt = Date.now();
  const daemon = startDaemon([], ['-user', 'nobody', '-datadir', datadir, '-tcpinfo.eventsocket', tcpinfo.path]);
  try {
    await waitFor(() => daemon.stderr.lines.some((l) => l.includes('running as user nobody')) || daemon.child.exitCode !== null, 15_000, 'privileges dropped');
    assert.equal(daemon.child.exitCode, null, daemon.stderr.text());
    assert.equal(Number(field(daemon.child.pid!, 'Uid')), NOBODY);
    assert.equal(Number(field(daemon.child.pid!, 'Gid')), NOBODY);
    assert.equal(field(daemon.child.pid!, 'CapEff'), '0000000000000000', 'no capability left');
    await waitFor(() => tcpinfo.connected > 0, 10_000, 'event socket');
    const socket = connect(port, '127.0.0.1');
    await within(new Promise<void>((resolve) => socket.once('connect', () => resolve())), 10_000, 'connect');
    tcpinfo.announce({ local: '127.0.0.1', lport: port, remote: '127.0.0.1', rport: socket.localPort!, cookie: '00000000000000AA' } as never, 'as_nobody');
    socket.write('hello');
    await new Promise((r) => setTimeout(r, 300));
    socket.end();
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    // Bounded cleanup even when an assertion above failed.
    await daemon.stop();
    server.close();
    await tcpinfo.close();
  }
  assert.equal(daemon.child.exitCode, 0, daemon.stderr.text());
  const files = pcapFiles(datadir);
  assert.deepEqual(files.map((f) => f.split('/').pop()), ['as_nobody.pcap.gz']);
  assert.equal(statSync(join(datadir, files[0])).uid, NOBODY);
  assertDated(files[0], startedAt, Date.now());
});

/** YYYY/MM/DD of a time, UTC. */
function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '/');
}

/** A file's date directory is its Open event's UTC date: a day between the test's start and end. */
function assertDated(relative: string, from: number, to: number): void {
  const days = new Set([day(from), day(to)]);
  assert.ok([...days].some((d) => relative.startsWith(`${d}/`)), `${relative} is not under ${[...days].join(' or ')}`);
}

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return Number(field(Number(n), 'PPid')) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** What the descriptors of a process above stdio are: "socket", "pipe", "anon_inode:[eventpoll]", … */
function descriptors(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => Number(fd) > 2).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/^(socket|pipe):\[\d+\]$/, '$1');
    } catch {
      return 'gone';
    }
  });
}

describe('-user and a root-owned event socket (0755 in a root-owned 0755 directory)', () => {
  let net: TestNetwork;
  const sockDir = join(work, 'tcpinfo-root');
  const port = 8095;

  before(async () => {
    mkdirSync(sockDir, { mode: 0o755 });
    chmodSync(sockDir, 0o755);
    net = await createTestNetwork();
  });
  after(async () => {
    await net?.destroy();
  });

  /** The fake tcp-info on its path, the socket made root's 0755 as tcp-info's would be: nobody cannot connect to it. */
  async function rootOnlyTcpInfo(): Promise<FakeTcpInfo> {
    const tcpinfo = new FakeTcpInfo(sockDir);
    await tcpinfo.listen();
    chmodSync(tcpinfo.path, 0o755);
    assert.equal(statSync(tcpinfo.path).uid, 0);
    return tcpinfo;
  }

  function spawnDaemon(datadir: string, eventSocket: string): { child: ChildProcess; stderr: LineCollector; exited: Promise<number | null> } {
    const child = net.spawn(net.serverNs, [
      process.execPath, bin, '-user', 'nobody', '-interface', net.serverIf, '-datadir', datadir, '-tcpinfo.eventsocket', eventSocket,
      '-prometheusx.listen-address', '127.0.0.1:0', '-sigtermwait', '300ms', '-uuidwaitduration', '3s',
    ]);
    child.stdout?.resume();
    const stderr = new LineCollector(child.stderr);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, stderr, exited };
  }

  test('tcp-info restarted on the same path: the daemon reconnects through its root helper and flows announced after the restart get their files', async (t) => {
    const datadir = datadirFor('user-reconnect');
    let tcpinfo = await rootOnlyTcpInfo();
    const server = await startTcpServer(net, net.serverNs, [{ host: net.serverV4, port }]);
    t.after(() => server.stop());
    const tcpdump = await startReferenceCapture(net, net.serverNs, net.serverIf, join(work, 'user-reconnect.pcap'));
    const daemon = spawnDaemon(datadir, tcpinfo.path);
    const startedAt = Date.now();
    const announced: Array<{ accept: AcceptEvent; uuid: string }> = [];
    let helperPid: number | undefined;
    try {
      await waitFor(() => daemon.stderr.lines.some((l) => l.includes('running as user nobody')) || daemon.child.exitCode !== null, 15_000, 'privileges dropped');
      assert.equal(daemon.child.exitCode, null, daemon.stderr.text());
      const pid = daemon.child.pid!;
      assert.equal(Number(field(pid, 'Uid')), NOBODY);
      await waitFor(() => tcpinfo.connected > 0, 10_000, 'first connection to the event socket');

      // tcp-info restarts: same path, root's again.
      await tcpinfo.close();
      await waitFor(() => daemon.stderr.lines.some((l) => l.includes('disconnected from')), 5_000, 'disconnect seen');
      tcpinfo = await rootOnlyTcpInfo();
      await waitFor(() => tcpinfo.connected > 0, 15_000, 'reconnection as nobody').catch((error: Error) => {
        throw new Error(`${error.message}; the daemon said: ${daemon.stderr.lines.slice(-2).join(' | ')}`);
      });

      // The helper: the daemon's only child, root, running the helper and nothing else.
      const [helper, ...others] = childrenOf(pid);
      helperPid = helper;
      assert.ok(helper !== undefined && others.length === 0, `children of the daemon: ${childrenOf(pid).join(', ')}`);
      assert.equal(Number(field(helper, 'Uid')), 0, 'the helper stays root');
      const argv = readFileSync(`/proc/${helper}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      assert.deepEqual(argv.slice(1), [join(repo, 'dist/src/flowevents/connecthelper-main.js'), tcpinfo.path], argv.join(' '));
      assert.deepEqual(childrenOf(helper), [], 'the helper starts nothing');
      // Its copy of the connection it handed over is closed once the daemon has acknowledged it.
      await waitFor(() => descriptors(helper).filter((f) => f === 'socket').length === 1, 5_000, `one socket besides stdio, its channel to the daemon: ${descriptors(helper).join(', ')}`);

      const seen = new Set<string>();
      const announcer = setInterval(() => {
        for (const a of server.accepts()) {
          if (seen.has(a.cookie)) continue;
          seen.add(a.cookie);
          const uuid = `user_${a.cookie}`;
          tcpinfo.announce(a, uuid);
          announced.push({ accept: a, uuid });
        }
      }, 5);
      try {
        const r = await runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port }, count: 3, size: 5000 });
        assert.equal(r.code, 0, r.stderr);
        await waitFor(() => announced.length === 3, 5_000, 'every accept announced');
      } finally {
        clearInterval(announcer);
      }
      await new Promise((r) => setTimeout(r, 300));
      daemon.child.kill('SIGTERM');
      assert.equal(await daemon.exited, 0, daemon.stderr.text());
      await waitFor(() => !processAlive(helper), 5_000, 'the helper exits with the daemon');
      helperPid = undefined;
    } finally {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
      if (helperPid !== undefined && processAlive(helperPid)) process.kill(helperPid, 'SIGKILL');
      await tcpdump.stop().catch(() => '');
      await tcpinfo.close();
    }
    const files = pcapFiles(datadir).sort();
    assert.deepEqual(files.map((f) => f.split('/').pop()), announced.map((a) => `${a.uuid}.pcap.gz`).sort(), daemon.stderr.text());
    for (const f of files) {
      assertDated(f, startedAt, Date.now());
      assert.equal(statSync(join(datadir, f)).uid, NOBODY);
    }
    const c = await compareWithTcpdump(tcpdump.file, files.map((f) => join(datadir, f)), (key) => key.includes(`|${port}|`));
    assert.deepEqual([c.connections, c.files, c.split.length, c.missing.length, c.differing.length], [3, 3, 0, 0, 0], JSON.stringify(c.differing));
    t.diagnostic(`3 connections after the tcp-info restart, 3 files, ${c.packets} packets, as tcpdump saw them`);
  });

  test('the helper exits when the daemon is killed (SIGKILL): no orphan', async () => {
    const tcpinfo = await rootOnlyTcpInfo();
    const daemon = spawnDaemon(datadirFor('user-sigkill'), tcpinfo.path);
    try {
      await waitFor(() => daemon.stderr.lines.some((l) => l.includes('running as user nobody')) || daemon.child.exitCode !== null, 15_000, 'privileges dropped');
      assert.equal(daemon.child.exitCode, null, daemon.stderr.text());
      const [helper] = childrenOf(daemon.child.pid!);
      assert.ok(helper !== undefined && processAlive(helper), 'the helper runs');
      daemon.child.kill('SIGKILL');
      await daemon.exited;
      await waitFor(() => !processAlive(helper), 5_000, `helper ${helper} gone after the daemon's SIGKILL`);
    } finally {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
      await tcpinfo.close();
    }
  });
});

test('-user with an unknown user: one line, exit 1', async () => {
  const daemon = startDaemon([], ['-user', 'no-such-user-ph', '-datadir', work]);
  try {
    await waitFor(() => daemon.child.exitCode !== null, 15_000, 'exit');
  } finally {
    await daemon.stop();
  }
  assert.equal(daemon.child.exitCode, 1, daemon.stderr.text());
  assert.match(daemon.stderr.text(), /no-such-user-ph/);
});

test('no root, only CAP_NET_RAW: captures, names flows from the kernel\'s socket table, writes files', async () => {
  const datadir = datadirFor('net-raw-only');
  const prefixFile = join(work, 'prefix');
  writeFileSync(prefixFile, 'netraw-test_1700000000\n', { mode: 0o644 });
  const { server, port } = await echoServer();
  const daemon = startDaemon(NET_RAW_ONLY, ['-datadir', datadir, '-uuid-prefix-file', prefixFile]);
  let clientPort = 0;
  try {
    await waitFor(() => daemon.stderr.lines.some((l) => l.includes('capturing on')) || daemon.child.exitCode !== null, 15_000, 'daemon capturing');
    assert.equal(daemon.child.exitCode, null, daemon.stderr.text());
    assert.doesNotMatch(daemon.stderr.text(), /no socket-destroy reports/);
    // The daemon is setpriv's exec'd image, so its pid is the child's.
    assert.equal(Number(field(daemon.child.pid!, 'Uid')), NOBODY);
    assert.equal(field(daemon.child.pid!, 'CapEff'), '0000000000002000', 'CAP_NET_RAW (bit 13) only');
    clientPort = await converse(port);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await daemon.stop();
    server.close();
  }
  assert.equal(daemon.child.exitCode, 0, daemon.stderr.text());
  const ours: string[] = [];
  for (const file of pcapFiles(datadir)) {
    assert.match(file.split('/').pop()!, /^netraw-test_1700000000_[0-9A-F]{16}\.pcap\.gz$/);
    const rows = await readPcapWithTshark(join(datadir, file), ['tcp.srcport'], `tcp.port == ${clientPort} && tcp.port == ${port}`);
    if (rows.length > 0) ours.push(file);
  }
  assert.equal(ours.length, 1, `one file holds the conversation: ${pcapFiles(datadir).join(', ')}`);
});

test('without CAP_NET_RAW: one line naming the interface and the permission, exit 1', async () => {
  const daemon = startDaemon(NO_CAPABILITIES, ['-datadir', datadirFor('no-caps')]);
  try {
    await waitFor(() => daemon.child.exitCode !== null, 15_000, 'exit');
  } finally {
    await daemon.stop();
  }
  assert.equal(daemon.child.exitCode, 1, daemon.stderr.text());
  const lines = daemon.stderr.lines.filter((l) => l.startsWith('packet-headers:'));
  assert.equal(lines.length, 1, daemon.stderr.text());
  assert.match(lines[0], /"lo".*permission/i);
});
