// Running without root: -user drops to a user after the captures are open,
// and a daemon started with only CAP_NET_RAW (no root at all) works too.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { LineCollector, readPcapWithTshark, waitFor } from '../helpers/netns.js';

const bin = join(import.meta.dirname, '../../../bin/packet-headers.js');
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
