// Disk full and read-only data directories, on a real (small) tmpfs: the
// affected flows are counted and logged once each, nothing partial or
// temporary is left behind, and flows after the fault are written again.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeFixture, metricValue, openEvent, type Fixture } from '../helpers/demuxfixture.js';
import { batchOf, ethernetFrame } from '../helpers/frames.js';

const mountpoint = mkdtempSync(join(tmpdir(), 'ph-tmpfs-'));
let mounted = false;

function mount(options: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mountpoint]);
  mounted = true;
}

function umount(): void {
  if (mounted) execFileSync('umount', [mountpoint]);
  mounted = false;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** A flow of n full-size packets (several 64 KiB chunks when n is large). */
function flow(f: Fixture, uuid: string, port: number, n: number): void {
  f.demuxer.handleEvent(openEvent(uuid, '10.0.0.1', port, '10.0.0.2', 40000));
  const frame = ethernetFrame({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: port, payload: Buffer.alloc(1400, 0x41) });
  // Scattered timestamps keep the records from compressing to almost nothing.
  let seed = port;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  f.demuxer.handleBatch(batchOf(Array.from({ length: n }, () => ({ frame, timestampNs: 1_700_000_000_000_000_000n + BigInt(next()) * 1000n }))), 1);
}

for (const stream of [false, true]) {
  describe(`a failing data directory (${stream ? 'stream' : 'buffered'} mode)`, () => {
    let f: Fixture;
    before(() => {
      mount('size=512k,mode=0775');
      f = makeFixture({ stream }, { datadir: mountpoint });
    });
    after(() => {
      umount();
    });

    test('disk full: the flow is lost, counted and logged once, nothing left; after space is back, flows are written', async () => {
      // Fill the tmpfs, leaving no room for a flow of ~2,000 records.
      const filler = join(mountpoint, 'filler');
      writeFileSync(filler, Buffer.alloc(508 * 1024));
      flow(f, 'big', 80, 4000);
      await f.demuxer.closeAll();
      assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'nospace' }), 1);
      assert.equal(f.logs.filter((l) => l.includes('big.pcap.gz')).length, 1, f.logs.join('\n'));
      assert.deepEqual(allFiles(mountpoint), [filler], 'no partial or temporary file');
      rmSync(filler);
      flow(f, 'after-space', 81, 50);
      await f.demuxer.closeAll();
      assert.equal(allFiles(mountpoint).filter((p) => p.endsWith('after-space.pcap.gz')).length, 1);
    });

    test('read-only mid-run: the flow is lost and counted; writable again, flows are written', async () => {
      execFileSync('mount', ['-o', 'remount,ro', mountpoint]);
      flow(f, 'readonly', 82, 50);
      await f.demuxer.closeAll();
      assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'permission' }), 1);
      assert.ok(!allFiles(mountpoint).some((p) => p.includes('readonly')));
      execFileSync('mount', ['-o', 'remount,rw', mountpoint]);
      flow(f, 'writable-again', 83, 50);
      await f.demuxer.closeAll();
      assert.equal(allFiles(mountpoint).filter((p) => p.endsWith('writable-again.pcap.gz')).length, 1);
      assert.ok(!allFiles(mountpoint).some((p) => p.endsWith('.tmp')));
    });
  });
}

after(() => {
  umount();
  rmSync(mountpoint, { recursive: true, force: true });
});
