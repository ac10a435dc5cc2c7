// SIGTERM during -read is a clean shutdown: reading stops, every flow read so
// far is written whole (no temporary file left), exit 0. A second signal
// exits at once, with exit code 1, even while the flows are still being written.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { countOutput } from '../../bench/pcapcount.js';
import { ethernetFrame } from '../helpers/frames.js';
import { readPcapWithTshark } from '../helpers/captures.js';
import { LineCollector } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const repo = join(import.meta.dirname, '../../..');
// tmpfs when there is one: writing thousands of files to ext4 would make the test slow, not different.
const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ph-offline-sigterm-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

// 40,000 flows whose packets take turns, so every flow has started after the
// first 40,000 of the 1.2 million packets and is still open when a signal
// interrupts the read; reading them all takes seconds, writing the open
// flows one or two more.
const FLOWS = 40_000;
const ROUNDS = 30;
const PACKETS = FLOWS * ROUNDS;
const capture = join(work, 'in.pcap');
writeInterleavedCapture(capture);

function writeInterleavedCapture(path: string): void {
  const frames = Array.from({ length: FLOWS }, (_, i) =>
    ethernetFrame({ src: `10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, dst: '10.0.0.1', sport: 40000 + (i % 20000), dport: 80, flags: 0x10 }),
  );
  const recordBytes = 16 + frames[0].length;
  const file = Buffer.alloc(24 + PACKETS * recordBytes);
  file.writeUInt32LE(0xa1b23c4d, 0);
  file.writeUInt16LE(2, 4);
  file.writeUInt16LE(4, 6);
  file.writeUInt32LE(262144, 16);
  file.writeUInt32LE(1, 20);
  let at = 24;
  for (let n = 0; n < PACKETS; n++) {
    const frame = frames[n % FLOWS];
    file.writeUInt32LE(1_700_000_000 + Math.floor(n / 1_000_000), at);
    file.writeUInt32LE((n % 1_000_000) * 1000, at + 4);
    file.writeUInt32LE(frame.length, at + 8);
    file.writeUInt32LE(frame.length, at + 12);
    frame.copy(file, at + 16);
    at += recordBytes;
  }
  writeFileSync(path, file);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function startRead(datadir: string, metricsPort = 0) {
  const child = spawn(
    process.execPath,
    [join(repo, 'bin/packet-headers.js'), '-read', capture, '-datadir', datadir, '-prometheusx.listen-address', `127.0.0.1:${metricsPort}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(child);
  const stderr = new LineCollector(child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr, exited };
}

/** Every file under `dir`, relative. */
function tree(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in the metrics`);
  return Number(line.split(' ')[1]);
}

test('SIGTERM while reading: reading stops, the flows read so far are written whole, exit 0', async () => {
  const datadir = join(work, 'once');
  const { child, stderr, exited } = startRead(datadir);
  await waitFor(() => stderr.lines.some((l) => l.includes('reading ')), 30_000, 'the read started');
  child.kill('SIGTERM');
  const { code, signal } = await exited;
  assert.equal(signal, null, `ended by ${signal}: ${stderr.text()}`);
  assert.equal(code, 0, stderr.text());
  const done = stderr.lines.find((l) => l.includes('done: '));
  assert.ok(done !== undefined, stderr.text());
  // The signal landed while packets were being read, and the read stopped there.
  assert.match(done, /interrupted by SIGTERM, reading stopped/);
  const files = tree(datadir);
  assert.ok(!files.some((f) => f.endsWith('.tmp')), `temporary files left: ${files.join(' ')}`);
  const counted = countOutput(datadir);
  assert.ok(counted.packets > 0 && counted.packets < PACKETS, `${counted.packets} of ${PACKETS} packets written after an interrupted read`);
  assert.ok(counted.files > 0 && counted.files <= FLOWS, `${counted.files} files`);
  // Files are whole: an independent reader agrees with our count on a sample.
  const sample = files.filter((f) => f.endsWith('.pcap.gz')).slice(0, 3);
  for (const f of sample) {
    const path = join(datadir, f);
    assert.equal((await readPcapWithTshark(path, ['frame.number'])).length, counted.perFile.get(path), f);
  }
});

test('a second signal exits at once, with exit code 1, while the flows are still being written', async () => {
  const datadir = join(work, 'twice');
  const port = await freePort();
  const { child, stderr, exited } = startRead(datadir, port);
  await waitFor(() => stderr.lines.some((l) => l.includes('reading ')), 30_000, 'the read started');
  child.kill('SIGINT');
  await waitFor(() => stderr.lines.some((l) => l.includes('SIGINT: reading stopped')), 30_000, 'the first signal handled');
  // Reading has stopped: this is every flow the first signal's shutdown would write.
  const started = await waitFor(() => metric(port, 'pcap_saver_starts_total'), 10_000, 'a metrics scrape');
  child.kill('SIGINT');
  const { code, signal } = await exited;
  assert.equal(signal, null, `ended by ${signal}`);
  assert.equal(code, 1, stderr.text());
  assert.ok(stderr.lines.some((l) => l.includes('SIGINT again: exiting at once')), stderr.text());
  assert.ok(!stderr.lines.some((l) => l.includes('done: ')), 'the first shutdown finished before the second signal');
  // It did not wait for the writing: some of the flows read have no file.
  const written = tree(datadir).filter((f) => f.endsWith('.pcap.gz') && !f.split('/').pop()!.startsWith('.')).length;
  assert.ok(started > 0, 'no flow started');
  assert.ok(written < started, `${written} of ${started} flows written: the exit waited for the writing`);
});
