// -user: captures are opened as root, then the daemon runs as the named user
// and still writes its files.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { LineCollector, waitFor } from '../helpers/netns.js';

const bin = join(import.meta.dirname, '../../../bin/packet-headers.js');
const work = mkdtempSync(join(tmpdir(), 'ph-user-'));
// mkdtemp makes the directory 0700; nobody must be able to reach the datadir in it.
chmodSync(work, 0o755);
after(() => rmSync(work, { recursive: true, force: true }));

const NOBODY = 65534;

function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

test('-user nobody: the running daemon has nobody\'s uid and still writes files', async () => {
  const datadir = join(work, 'data');
  mkdirSync(datadir, { mode: 0o775 });
  chownSync(datadir, NOBODY, NOBODY);
  const tcpinfo = new FakeTcpInfo(work);
  await tcpinfo.listen();
  const echo = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const port = (echo.address() as { port: number }).port;
  const daemon = spawn(process.execPath, [bin, '-interface', 'lo', '-user', 'nobody', '-datadir', datadir, '-tcpinfo.eventsocket', tcpinfo.path, '-prometheusx.listen-address', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr = new LineCollector(daemon.stderr);
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => stderr.lines.some((l) => l.includes('running as user nobody')) || daemon.exitCode !== null, 15_000, 'privileges dropped');
    assert.equal(daemon.exitCode, null, stderr.text());
    assert.equal(uidOf(daemon.pid!), NOBODY);
    await waitFor(() => tcpinfo.connected > 0, 10_000, 'event socket');
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    tcpinfo.announce({ local: '127.0.0.1', lport: port, remote: '127.0.0.1', rport: socket.localPort!, cookie: '00000000000000AA' } as never, 'as_nobody');
    socket.write('hello');
    await new Promise((r) => setTimeout(r, 300));
    socket.end();
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    // Bounded cleanup even when an assertion above failed: the daemon is ours,
    // so it is ended by its PID, and the servers are closed so the test exits.
    daemon.kill('SIGTERM');
    const killer = setTimeout(() => daemon.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    echo.close();
    await tcpinfo.close();
  }
  assert.equal(daemon.exitCode, 0, stderr.text());
  const files = readdirSync(datadir, { recursive: true }).map(String).filter((f) => f.endsWith('.pcap.gz'));
  assert.deepEqual(files.map((f) => f.split('/').pop()), ['as_nobody.pcap.gz']);
  assert.equal(statSync(join(datadir, files[0])).uid, NOBODY);
});

test('-user with an unknown user: one line, exit 1', () => {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, '-interface', 'lo', '-user', 'no-such-user-ph', '-datadir', work, '-prometheusx.listen-address', '127.0.0.1:0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      try {
        assert.equal(code, 1, err);
        assert.match(err, /no-such-user-ph/);
        resolve();
      } catch (e) {
        reject(e);
      }
    });
  });
});

