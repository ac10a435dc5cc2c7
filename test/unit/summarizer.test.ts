// The summarizer inspect uses keeps its analysis state from one file to the
// next and reads small files synchronously; a summary must not depend on
// what was read before it, nor on the way it was read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { FlowSummarizer, summarizeFile, uuidOfPath } from '../../src/analysis/summarize.js';
import { FLOW_SUMMARY_FIELDS, type FlowSummary, summaryJson } from '../../src/analysis/summary.js';
import { fixture } from '../helpers/fixtures.js';
import { writeCapture } from '../helpers/pcapwrite.js';

const dir = mkdtempSync(join(tmpdir(), 'summarizer-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function files(): string[] {
  const v4 = readFileSync(fixture('v4.pcap'));
  const v6 = readFileSync(fixture('v6.pcap'));
  const write = (name: string, bytes: Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const v4gz = gzipSync(v4);
  const long = join(dir, 'long.pcap');
  writeCapture(long, [{ client: '10.0.0.1', server: '10.0.0.2', clientPort: 40000, serverPort: 80, startSeconds: 1_790_000_000, packets: 20_000, spacingNs: 1000 }]);
  return [
    long,
    fixture('v4.pcap'),
    fixture('v6.pcap'),
    write('v4.pcap.gz', v4gz),
    write('cut.pcap.gz', v4gz.subarray(0, Math.floor(v4gz.length / 2))),
    write('v6.pcap.gz', Buffer.concat([gzipSync(v6.subarray(0, 100)), gzipSync(v6.subarray(100))])),
    write('empty.pcap', Buffer.alloc(0)),
    join(dir, 'missing.pcap.gz'),
    fixture('v4.pcap'),
    long,
  ];
}

/** What summaryJson wrote before it wrote field by field: JSON.stringify of the fields in schema order. */
function jsonOfFields(summary: FlowSummary): string {
  const values = summary as unknown as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const field of FLOW_SUMMARY_FIELDS) ordered[field.name] = values[field.name];
  return JSON.stringify(ordered);
}

test('one summarizer for many files gives each the summary a fresh analysis gives it', async () => {
  const paths = files();
  const reused = new FlowSummarizer();
  for (let round = 0; round < 2; round++) {
    for (const path of paths) {
      const expected = await summarizeFile(path);
      const got = (await reused.analyze(path)).summary;
      assert.deepEqual(got, expected, path);
      assert.equal(summaryJson(got), jsonOfFields(expected), path);
    }
  }
});

test('small files come back without a promise, a cut gzip file as a promise', () => {
  const [, v4, , v4gz, cut] = files();
  const s = new FlowSummarizer();
  assert.ok(!(s.analyze(v4) instanceof Promise));
  assert.ok(!(s.analyze(v4gz) instanceof Promise));
  assert.ok(s.analyze(cut) instanceof Promise);
});

test('summaryJson takes the general way for a value that is not a string, number, boolean or null', () => {
  const summary = { ...(new FlowSummarizer().analyze(fixture('v4.pcap')) as { summary: FlowSummary }).summary };
  const odd = summary as unknown as Record<string, unknown>;
  odd.duration_s = Number.NaN;
  assert.equal(summaryJson(summary), jsonOfFields(summary));
  odd.client_ip = undefined;
  assert.equal(summaryJson(summary), jsonOfFields(summary));
  odd.client_port = [1, 2];
  assert.equal(summaryJson(summary), jsonOfFields(summary));
});

test("uuid: a connection's later files join on its UUID; other names keep every part", () => {
  assert.equal(uuidOfPath('/d/2026/12/07/host_1_unsafe_00000000000000AB.pcap.gz'), 'host_1_unsafe_00000000000000AB');
  assert.equal(uuidOfPath('/d/2026/12/07/host_1_unsafe_00000000000000AB.20261207T163045.123Z.pcap.gz'), 'host_1_unsafe_00000000000000AB');
  assert.equal(uuidOfPath('host_1_unsafe_00000000000000AB.1.pcap.gz'), 'host_1_unsafe_00000000000000AB.1');
  assert.equal(uuidOfPath('trace_10.0.0.1_80_10.0.0.2_40000_1566403800.123456789.pcap.gz'), 'trace_10.0.0.1_80_10.0.0.2_40000_1566403800.123456789');
});
