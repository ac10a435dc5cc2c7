// The start-up removal of earlier runs' temporary files touches only the flow
// store's own temporary names, only in the datadir's YYYY/MM/DD directories,
// and never follows a symbolic link.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeLeftoverTemporaries } from '../../src/saver/leftovers.js';

test('removes .<name>.pcap.gz.<digits>.tmp in YYYY/MM/DD and nothing else', (t) => {
  const work = mkdtempSync(join(tmpdir(), 'ph-leftovers-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const datadir = join(work, 'data');
  const day = join(datadir, '2026', '12', '01');
  const outside = join(work, 'elsewhere');
  mkdirSync(day, { recursive: true });
  mkdirSync(outside);
  const touch = (p: string) => writeFileSync(p, 'x');
  const removed = [join(day, '.x.pcap.gz.123.tmp'), join(day, '.host_1_unsafe_00000000000000AB.pcap.gz.1.tmp')];
  const kept = [
    join(day, 'notes.tmp'),
    join(day, 'x.pcap.gz'),
    join(day, '.x.pcap.gz.tmp'),
    join(day, '.x.pcap.gz.12a.tmp'),
    join(day, 'x.pcap.gz.123.tmp'),
    join(datadir, '.x.pcap.gz.5.tmp'), // not in the YYYY/MM/DD layout
    join(datadir, '2026', '.x.pcap.gz.6.tmp'),
    join(outside, '.y.pcap.gz.7.tmp'), // outside the datadir
  ];
  for (const p of [...removed, ...kept]) touch(p);
  // A symlinked day directory and a symlink with a matching name: neither is followed nor removed.
  symlinkSync(outside, join(datadir, '2026', '12', '02'));
  symlinkSync(join(outside, '.y.pcap.gz.7.tmp'), join(day, '.link.pcap.gz.8.tmp'));
  const linkedYear = join(work, 'year');
  mkdirSync(join(linkedYear, '01', '01'), { recursive: true });
  touch(join(linkedYear, '01', '01', '.z.pcap.gz.9.tmp'));
  symlinkSync(linkedYear, join(datadir, '2025'));
  kept.push(join(linkedYear, '01', '01', '.z.pcap.gz.9.tmp'), join(day, '.link.pcap.gz.8.tmp'));

  const result = removeLeftoverTemporaries(datadir);
  assert.equal(result.removed, removed.length);
  assert.equal(result.failed, 0);
  for (const p of removed) assert.equal(existsSync(p), false, `${p} removed`);
  for (const p of kept) assert.equal(existsSync(p), true, `${p} kept`);
  assert.equal(removeLeftoverTemporaries(datadir).removed, 0, 'a second run finds nothing');
});

test('a datadir that does not exist or holds no layout is fine', () => {
  assert.equal(removeLeftoverTemporaries(join(tmpdir(), 'ph-no-such-dir-' + process.pid)).removed, 0);
});
