// The addon describes every record on its capture thread (native/decode.cc);
// the JS decoder (src/decode/describe.ts) is the reference. Both must give the
// same words for every frame: the bundled real captures, and seeded malformed
// frames on every supported link type, read back through libpcap's file reader.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DESCRIPTION_WORDS } from '../../src/native/layout.js';
import { loadAddon } from '../../src/native/addon.js';
import { describeRecords, splitAddonBatch } from '../../src/decode/describe.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { FrameMutator } from '../helpers/mutate.js';

const addon = loadAddon();
const scratch = mkdtempSync(join(tmpdir(), 'ph-describe-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A pcap file (microsecond timestamps) of the given frames and LINKTYPE. */
function pcapFile(frames: readonly Buffer[], linkType: number): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(linkType, 20);
  const parts: Buffer[] = [header];
  frames.forEach((frame, i) => {
    const record = Buffer.alloc(16);
    record.writeUInt32LE(1_700_000_000 + i, 0);
    record.writeUInt32LE(i % 1_000_000, 4);
    record.writeUInt32LE(frame.length, 8);
    record.writeUInt32LE(frame.length + 100, 12);
    parts.push(record, frame);
  });
  return Buffer.concat(parts);
}

/**
 * Reads `file` through the addon and compares its descriptions with the JS
 * ones; returns how many records, and how many were TCP segments. A file cut
 * short in its last record (as one of the real captures is) is read up to there.
 */
async function compareFile(file: string): Promise<{ records: number; ok: number }> {
  const capture = new addon.Capture({ file, snaplen: 262144, filter: '' });
  const linkType = capture.linkType;
  let records = 0;
  let ok = 0;
  let mismatch: Error | null = null;
  const compare = (batch: Buffer, recordsBytes: number) => {
    const native = splitAddonBatch(batch, recordsBytes);
    const reference = describeRecords(native.records, linkType);
    assert.equal(native.described.length, reference.length, `${file}: description count`);
    for (let at = 0; at < reference.length; at += DESCRIPTION_WORDS) {
      const got = Array.from(native.described.subarray(at, at + DESCRIPTION_WORDS));
      const want = Array.from(reference.subarray(at, at + DESCRIPTION_WORDS));
      const frame = native.records.subarray(want[0] + 16, want[0] + 16 + native.records.readUInt32LE(want[0] + 8));
      assert.deepEqual(got, want, `${file}: record ${records} (link type ${linkType}, frame ${frame.toString('hex')})`);
      records++;
      if (want[1] === 0) ok++;
    }
  };
  await new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`${file}: no end within 60 s`)), 60_000);
    capture.start(
      (batch, recordsBytes) => {
        if (mismatch !== null) return;
        try {
          compare(batch, recordsBytes);
        } catch (error) {
          mismatch = error as Error;
        }
      },
      (error) => {
        clearTimeout(guard);
        if (mismatch !== null) reject(mismatch);
        else if (error === null || /truncated/.test(error)) resolve();
        else reject(new Error(error));
      },
    );
  });
  return { records, ok };
}

test('the real captures: every record described alike', async () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.pcap'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const { records, ok } = await compareFile(join(FIXTURES, f));
    assert.ok(records > 0 && ok > 0, `${f}: ${records} records, ${ok} TCP`);
  }
});

test('120,000 seeded malformed frames on every link type: described alike', async () => {
  const mutator = new FrameMutator(11);
  const byLink = new Map<number, Buffer[]>();
  for (let i = 0; i < 120_000; i++) {
    const { frame, linkType } = mutator.next();
    const list = byLink.get(linkType);
    if (list === undefined) byLink.set(linkType, [frame]);
    else list.push(frame);
  }
  let statusesSeen = new Set<number>();
  for (const [linkType, frames] of byLink) {
    const file = join(scratch, `link${linkType}.pcap`);
    writeFileSync(file, pcapFile(frames, linkType));
    const { records } = await compareFile(file);
    assert.equal(records, frames.length, `link type ${linkType}`);
    const described = describeRecords(Buffer.concat(frames.map((f) => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(f.length, 8);
      return Buffer.concat([h, f]);
    })), linkType);
    for (let at = 1; at < described.length; at += DESCRIPTION_WORDS) statusesSeen.add(described[at]);
  }
  assert.ok(byLink.size >= 8, `${byLink.size} link types`);
  // Every status, the good one and each reason, came up at least once.
  statusesSeen = new Set([...statusesSeen].sort());
  assert.deepEqual([...statusesSeen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
});
