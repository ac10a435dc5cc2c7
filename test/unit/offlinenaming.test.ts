import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { BatchInputs } from '../../src/capture/batchinputs.js';
import { hashFlowKey } from '../../src/decode/flowkey.js';
import { EventListSource } from '../../src/flowevents/eventfile.js';
import { OfflineNamingSource, offlineFlowName } from '../../src/flowevents/offlinenaming.js';
import { makeFixture, metricValue, openEvent, type Fixture } from '../helpers/demuxfixture.js';
import { batchOf, ethernetFrame } from '../helpers/frames.js';
import { parsePcapGz } from '../helpers/pcapread.js';

let fixture: Fixture | undefined;
afterEach(() => fixture?.cleanup());

test('offlineFlowName: input without .pcap(.gz), endpoints, first packet time', () => {
  const key = openEvent('', '10.0.0.1', 80, '10.0.0.2', 40000).key;
  assert.equal(offlineFlowName('/data/trace.pcap.gz', key, 1566403800, 123456789), 'trace_10.0.0.1_80_10.0.0.2_40000_1566403800.123456789');
  assert.equal(offlineFlowName('dir/a b.pcap', key, 1, 5), 'a_b_10.0.0.1_80_10.0.0.2_40000_1.000000005');
});

test('an -events Open names its flow once; the naming rule names every flow from its input and first packet', () => {
  const key = openEvent('', '10.0.0.1', 80, '10.0.0.2', 40000).key;
  const hash = hashFlowKey(key);
  const flow = (input: string, seconds: number, nanoseconds: number) => ({ key, hash, opening: false, input, seconds, nanoseconds });
  const event = openEvent('from-events', '10.0.0.2', 40000, '10.0.0.1', 80);
  const fromEvents = new EventListSource([event]);
  assert.equal(fromEvents.nameFlow(flow('x.pcap', 1, 0)), event);
  assert.equal(fromEvents.nameFlow(flow('x.pcap', 1, 0)), null);
  const auto = new OfflineNamingSource();
  assert.equal(auto.nameFlow(flow('one.pcap', 7, 8)).uuid, 'one_10.0.0.1_80_10.0.0.2_40000_7.000000008');
  assert.equal(auto.nameFlow(flow('/x/two.pcap.gz', 7, 9)).uuid, 'two_10.0.0.1_80_10.0.0.2_40000_7.000000009');
  assert.equal(auto.nameFlow(flow('two.pcap', 7, 9)).timestampMs, 7000);
});

test('merged files: a flow is named after the file of its first packet, in packet time', async () => {
  const f = (fixture = makeFixture({ packetTime: true }, { sources: [new OfflineNamingSource()] }));
  const at = (s: number) => BigInt(s) * 1_000_000_000n;
  const a = { src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 80 };
  const b = { src: '10.0.0.3', dst: '10.0.0.1', sport: 40001, dport: 80 };
  // Records 0-1 from piece-0 (flow a starts there), 2-4 from piece-1 (flow b starts, a goes on).
  const batch = batchOf([
    { frame: ethernetFrame(a), timestampNs: at(1_600_000_000) },
    { frame: ethernetFrame(a), timestampNs: at(1_600_000_001) },
    { frame: ethernetFrame(b), timestampNs: at(1_600_000_002) },
    { frame: ethernetFrame(a), timestampNs: at(1_600_000_003) },
    { frame: ethernetFrame(b), timestampNs: at(1_600_000_004) },
  ]);
  f.demuxer.handleBatch(batch, 1, new BatchInputs(['/x/piece-0.pcap', '/x/piece-1.pcap.gz'], Int32Array.of(0, 0, 2, 1)));
  await f.demuxer.closeAll();
  assert.deepEqual(f.files(), [
    '2020/09/13/piece-0_10.0.0.1_80_10.0.0.2_40000_1600000000.000000000.pcap.gz',
    '2020/09/13/piece-1_10.0.0.1_80_10.0.0.3_40001_1600000002.000000000.pcap.gz',
  ]);
});

test('a 4-tuple reused within one batch: the first connection is named and written whole, the new one too', async () => {
  // Both flows start in the same batch, so by the time the first is named the
  // key already finds the second: the name goes to the flow it was asked for.
  const f = (fixture = makeFixture({ packetTime: true }, { sources: [new OfflineNamingSource()] }));
  const at = (ms: number) => 1_600_000_000_000_000_000n + BigInt(ms) * 1_000_000n;
  const c = { src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 80 };
  const batch = batchOf([
    { frame: ethernetFrame({ ...c, flags: 0x02, seq: 100 }), timestampNs: at(0) },
    { frame: ethernetFrame({ ...c, seq: 101 }), timestampNs: at(1) },
    { frame: ethernetFrame({ ...c, flags: 0x02, seq: 9000 }), timestampNs: at(2) },
    { frame: ethernetFrame({ ...c, seq: 9001 }), timestampNs: at(3) },
    { frame: ethernetFrame({ ...c, seq: 9002 }), timestampNs: at(4) },
  ]);
  f.demuxer.handleBatch(batch, 1, '/x/reuse.pcap');
  await f.demuxer.closeAll();
  const names = ['reuse_10.0.0.1_80_10.0.0.2_40000_1600000000.000000000.pcap.gz', 'reuse_10.0.0.1_80_10.0.0.2_40000_1600000000.002000000.pcap.gz'];
  assert.deepEqual(f.files(), names.map((n) => `2020/09/13/${n}`));
  const records = names.map((n) => parsePcapGz(readFileSync(join(f.datadir, '2020/09/13', n))).records.length);
  assert.deepEqual(records, [2, 3]);
  assert.equal(await metricValue(f.metrics.tupleReuses), 1);
});
