// SIGTERM during -read is a clean shutdown: reading stops, every flow read so
// far is written whole (no temporary file left), exit 0. A second signal
// exits at once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { countOutput } from '../../bench/pcapcount.js';
import { generate } from '../../bench/gen.js';
import { LineCollector, readPcapWithTshark, waitFor } from '../helpers/netns.js';

const repo = join(import.meta.dirname, '../../..');
const work = mkdtempSync(join(tmpdir(), 'ph-offline-sigterm-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const PACKETS = 400_000;
const capture = join(work, 'in.pcap');
generate({
  snapPcapPath: capture,
  eventsPath: join(work, 'events.jsonl'),
  packets: PACKETS,
  flows: 800,
  v6Fraction: 0.25,
  seed: 7,
  serverV4: '10.0.0.1',
  serverV6: 'fd00::1',
});

function startRead(datadir: string) {
  const child = spawn(process.execPath, [join(repo, 'bin/packet-headers.js'), '-read', capture, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const stderr = new LineCollector(child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr, exited };
}

/** Every file under `dir`, relative. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
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
  const files = tree(datadir);
  assert.ok(!files.some((f) => f.endsWith('.tmp')), `temporary files left: ${files.join(' ')}`);
  const counted = countOutput(datadir);
  if (done.includes('interrupted by SIGTERM')) {
    // The usual case: the signal came while packets were being read.
    assert.ok(counted.packets < PACKETS, `${counted.packets} packets written after an interrupted read`);
  } else {
    // The whole file was read before the signal arrived.
    assert.equal(counted.packets, PACKETS);
  }
  // Files are whole: an independent reader agrees with our count on a sample.
  const sample = files.filter((f) => f.endsWith('.pcap.gz')).slice(0, 3);
  assert.ok(sample.length > 0, 'some flows were written');
  for (const f of sample) {
    const path = join(datadir, f);
    assert.equal((await readPcapWithTshark(path, ['frame.number'])).length, counted.perFile.get(path), f);
  }
});

test('a second signal exits at once', async () => {
  const datadir = join(work, 'twice');
  const { child, stderr, exited } = startRead(datadir);
  await waitFor(() => stderr.lines.some((l) => l.includes('reading ')), 30_000, 'the read started');
  child.kill('SIGINT');
  await waitFor(() => stderr.lines.some((l) => l.includes('SIGINT: reading stopped')), 30_000, 'the first signal handled');
  child.kill('SIGINT');
  const { code, signal } = await exited;
  assert.equal(signal, null, `ended by ${signal}`);
  // 0 if the flows were all written before the second signal was handled, else 1.
  assert.ok(code === 0 || code === 1, `exit ${code}: ${stderr.text()}`);
  if (code === 1) assert.ok(stderr.lines.some((l) => l.includes('SIGINT again: exiting at once')), stderr.text());
});
