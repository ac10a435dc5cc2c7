// What an operator reads in the log: where files go and where metrics are
// served at start, a status line now and then, and a shutdown line that
// counts the files written (not the flows that were open).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { walkFiles } from '../helpers/files.js';
import { LineCollector } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startTestDaemon } from '../helpers/testdaemon.js';

const bin = join(import.meta.dirname, '../../../bin/packet-headers.js');
const work = mkdtempSync(join(tmpdir(), 'ph-oplog-'));
let server: Server;
let port = 0;

before(async () => {
  server = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
after(() => {
  server.close();
  rmSync(work, { recursive: true, force: true });
});

/** One short loopback conversation with the echo server, bounded. */
async function converse(): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  const done = new Promise((r) => socket.once('close', r));
  await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('error', reject));
  socket.resume();
  socket.write('hello operator');
  await new Promise((r) => setTimeout(r, 200));
  socket.end();
  await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
}

const pcapFiles = (dir: string) => walkFiles(dir).filter((f) => f.endsWith('.pcap.gz'));

test('start-up names the data directory and the metrics URL; the shutdown line counts the files it wrote', async () => {
  const datadir = join(work, 'cli');
  const child = spawn(process.execPath, [bin, '-interface', 'lo', '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0', '-sigtermwait', '100ms'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = new LineCollector(child.stderr);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => stderr.lines.some((l) => l.includes('writing files to')) || child.exitCode !== null, 15_000, 'start-up lines');
    const line = stderr.lines.find((l) => l.includes('writing files to')) ?? '';
    assert.match(line, new RegExp(`writing files to ${datadir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/YYYY/MM/DD/; metrics at http://127\\.0\\.0\\.1:[1-9]\\d*/metrics$`));
    await converse();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  }
  assert.equal(child.exitCode, 0, stderr.text());
  const stopped = stderr.lines.find((l) => l.includes('stopped:')) ?? '';
  const written = Number(/stopped: (\d+) files written/.exec(stopped)?.[1] ?? -1);
  assert.ok(written >= 1, stopped);
  assert.equal(written, pcapFiles(datadir).length, `${stopped}: as many as the files in the datadir`);
});

test('a status line comes every statusLogMs with the files written since the last one', async () => {
  const datadir = join(work, 'status');
  const lines: string[] = [];
  const daemon = await startTestDaemon([], datadir, { config: { interfaces: ['lo'], flowTimeoutMs: 300 }, statusLogMs: 400, log: (l) => lines.push(l) });
  try {
    await converse();
    // The packets are saved in one period and the file is written in a later one, when the flow times out.
    await waitFor(() => lines.some((l) => /^status: \d+ flows tracked; in the last 400ms [1-9]\d* files written, \d+ packets saved, 0 dropped by the kernel \(since start: [1-9]\d*, [1-9]\d*, 0\)$/.test(l)), 15_000, 'a status line with the file');
  } finally {
    await daemon.stop();
  }
  const last = lines.filter((l) => l.startsWith('status:')).pop() ?? '';
  const total = Number(/since start: (\d+),/.exec(last)?.[1] ?? -1);
  assert.ok(total >= 1 && total <= pcapFiles(datadir).length, last);
});
