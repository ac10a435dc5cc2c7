// A second signal exits at once, but not in the middle of a write: the flow
// store's threads finish the file each is writing, so no temporary file of
// the run is left behind (and every file present is whole). The output is on
// the disk filesystem of tmpdir(), where each file's fdatasync makes the
// final write of thousands of flows last long enough to be interrupted.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generate } from '../../bench/gen.js';
import { LineCollector } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const repo = join(import.meta.dirname, '../../..');
const work = mkdtempSync(join(tmpdir(), 'ph-second-signal-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const capture = join(work, 'in.pcap');
generate({
  snapPcapPath: capture,
  eventsPath: join(work, 'events.jsonl'),
  packets: 100_000,
  flows: 4000,
  v6Fraction: 0.25,
  seed: 11,
  serverV4: '10.0.0.1',
  serverV6: 'fd00::1',
});

test('a second signal while flows are being written: exit 1 at once, no temporary file left, every file whole', async (t) => {
  const figures: string[] = [];
  for (const delayMs of [0, 50, 200]) {
    const datadir = join(work, `data-${delayMs}`);
    const child = spawn(process.execPath, [join(repo, 'bin/packet-headers.js'), '-read', capture, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    const stderr = new LineCollector(child.stderr);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => stderr.lines.some((l) => l.includes('reading ')), 30_000, 'the read started');
    child.kill('SIGTERM');
    await waitFor(() => stderr.lines.some((l) => l.includes('SIGTERM: reading stopped')) || child.exitCode !== null, 30_000, 'the first signal handled');
    await new Promise((r) => setTimeout(r, delayMs));
    const signalledAt = performance.now();
    child.kill('SIGTERM');
    const code = await exited;
    const exitMs = Math.round(performance.now() - signalledAt);
    const files = (readdirSync(datadir, { recursive: true }) as string[]).filter((f) => !f.endsWith('/') && /\.(gz|tmp)$/.test(f));
    assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), [], `temporary files left: ${stderr.text()}`);
    const written = files.filter((f) => f.endsWith('.pcap.gz'));
    if (written.length > 0) {
      const gz = spawnSync('gzip', ['-t', ...written.map((f) => join(datadir, f))], { encoding: 'utf8' });
      assert.equal(gz.status, 0, gz.stderr);
    }
    if (code === 1) assert.ok(stderr.lines.some((l) => l.includes('SIGTERM again: exiting at once')), stderr.text());
    else assert.equal(code, 0, stderr.text()); // every flow was written before the second signal came
    figures.push(`+${delayMs} ms: exit ${code} ${exitMs} ms after the second signal, ${written.length} of 4000 files written`);
  }
  console.log(`second signal: ${figures.join('; ')}`);
  t.diagnostic(figures.join('; '));
});
