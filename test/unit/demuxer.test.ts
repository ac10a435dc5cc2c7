import assert from 'node:assert/strict';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { describeRecords } from '../../src/decode/describe.js';
import { makeFixture, metricValue, openEvent, type Fixture } from '../helpers/demuxfixture.js';
import { batchOf, ethernetFrame, type TcpSpec } from '../helpers/frames.js';
import { parsePcapGz } from '../helpers/pcapread.js';

const client: TcpSpec = { src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 80 };
const server: TcpSpec = { src: '10.0.0.1', dst: '10.0.0.2', sport: 80, dport: 40000 };
const MARKER = Buffer.from('SECRET-PAYLOAD-MARKER-'.repeat(40));
const DAY = '2019/08/21';

let fixture: Fixture | undefined;
afterEach(() => fixture?.cleanup());

function packets(n: number, payload = MARKER): Buffer {
  return batchOf(Array.from({ length: n }, (_, i) => ({ frame: ethernetFrame({ ...(i % 2 ? server : client), payload }) })));
}

describe('flow lifecycle', () => {
  test('packets, then a UUID: one trimmed, payload-free file', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleBatch(packets(4), 1);
    f.clock.advance(1000);
    f.demuxer.handleEvent(openEvent('flow-1', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/flow-1.pcap.gz`]);
    const pcap = parsePcapGz(readFileSync(join(f.datadir, DAY, 'flow-1.pcap.gz')));
    assert.equal(pcap.magic, 0xa1b23c4d);
    assert.equal(pcap.snaplen, 14 + 20 + 60);
    assert.equal(pcap.linkType, 1);
    assert.equal(pcap.records.length, 6);
    for (const r of pcap.records) {
      assert.equal(r.caplen, 94);
      assert.equal(r.origlen, 54 + MARKER.length);
      assert.ok(r.data.subarray(54).every((b) => b === 0), 'payload zeroed');
    }
    assert.equal(await metricValue(f.metrics.filesWritten), 1);
    assert.equal(await metricValue(f.metrics.saverStarts), 1);
    assert.equal(await metricValue(f.metrics.saverStops), 1);
  });

  test('a UUID before any packet', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleEvent(openEvent('early', '10.0.0.2', 40000, '10.0.0.1', 80));
    f.demuxer.handleBatch(packets(3), 1);
    await f.demuxer.closeAll();
    assert.equal(parsePcapGz(readFileSync(join(f.datadir, DAY, 'early.pcap.gz'))).records.length, 3);
  });

  test('no UUID within uuidwaitduration: abandoned, nothing written, later packets discarded', async () => {
    const f = (fixture = makeFixture({ uuidWaitMs: 5000 }));
    f.demuxer.handleBatch(packets(2), 1);
    f.clock.advance(4999);
    f.demuxer.tick();
    assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'uuidtimedout' }), 0);
    f.clock.advance(1);
    f.demuxer.tick();
    assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'uuidtimedout' }), 1);
    f.demuxer.handleBatch(packets(3), 1);
    assert.equal(await metricValue(f.metrics.missedPackets, { saverstate: 'discardingpackets' }), 3);
    f.demuxer.handleEvent(openEvent('late', '10.0.0.1', 80, '10.0.0.2', 40000));
    assert.equal(await metricValue(f.metrics.missedUuids, { saverstate: 'discardingpackets' }), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), []);
  });

  test('only the first captureduration is saved, and the file is complete then', async () => {
    const f = (fixture = makeFixture({ captureDurationMs: 10_000, uuidWaitMs: 5000 }));
    f.demuxer.handleEvent(openEvent('cap', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(5), 1);
    f.clock.advance(10_000);
    f.demuxer.tick();
    f.demuxer.handleBatch(packets(5), 1);
    await f.demuxer.drain();
    assert.deepEqual(f.files(), [`${DAY}/cap.pcap.gz`]);
    assert.equal(parsePcapGz(readFileSync(join(f.datadir, DAY, 'cap.pcap.gz'))).records.length, 5);
    assert.equal(await metricValue(f.metrics.missedPackets, { saverstate: 'filewritten' }), 5, 'not wanted, not lost');
    assert.equal(await metricValue(f.metrics.missedPackets, { saverstate: 'discardingpackets' }), 0);
    assert.equal(await metricValue(f.metrics.saverStates, { state: 'filewritten' }), 1);
    assert.equal(await metricValue(f.metrics.saverStates, { state: 'discardingpackets' }), 0);
    assert.equal(f.demuxer.activeFlows, 1, 'the flow lives on until it times out');
  });

  test('a named flow of which no packet is captured is counted as such, not as skipped', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleEvent(openEvent('quiet', '10.0.0.1', 80, '10.0.0.2', 40001));
    f.demuxer.handleEvent(openEvent('early', '10.0.0.2', 40000, '10.0.0.1', 80));
    f.demuxer.handleBatch(packets(2), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/early.pcap.gz`]);
    assert.equal(await metricValue(f.metrics.namedWithoutPackets), 1);
    assert.equal(await metricValue(f.metrics.saverSkipped), 0);
  });

  test('generational timeout: idle for a whole period closes; a later packet starts a new flow', async () => {
    const f = (fixture = makeFixture({ flowTimeoutMs: 30_000 }));
    f.demuxer.handleEvent(openEvent('gen', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(1), 1);
    f.clock.advance(30_000);
    f.demuxer.tick(); // first sweep: the flow saw a packet in this period
    assert.equal(f.demuxer.activeFlows, 1);
    f.clock.advance(30_000);
    f.demuxer.tick(); // second sweep: nothing for a whole period
    assert.equal(f.demuxer.activeFlows, 0);
    assert.equal(await metricValue(f.metrics.saversGarbageCollected), 1);
    f.demuxer.handleBatch(packets(1), 1);
    assert.equal(f.demuxer.activeFlows, 1);
    assert.equal(await metricValue(f.metrics.saverStarts), 2);
    await f.demuxer.closeAll();
  });

  test('packet time: deadlines and sweeps due in the middle of a batch act before the record that reaches them', async () => {
    const f = (fixture = makeFixture({ packetTime: true, uuidWaitMs: 500, captureDurationMs: 100_000, flowTimeoutMs: 1000 }));
    const start = 1_700_000_000_000_000_000n;
    const at = (ms: number) => start + BigInt(ms) * 1_000_000n;
    const y = (i: number) => ({ frame: ethernetFrame({ ...client, sport: 40001 }), timestampNs: at(i * 100) });
    const z = (i: number) => ({ frame: ethernetFrame({ ...client, sport: 40002 }), timestampNs: at(i * 100) });
    // One batch: flow Y every 100 ms for 2 s, flow Z at the start and the end.
    const records = [y(0), z(0)];
    for (let i = 1; i <= 20; i++) records.push(y(i));
    records.push(z(20));
    f.demuxer.handleBatch(batchOf(records), 1);
    // No UUID within 500 ms: both abandoned at the tick of Y's sixth record, before it is routed.
    assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'uuidtimedout' }), 2);
    assert.equal(await metricValue(f.metrics.missedPackets, { saverstate: 'discardingpackets' }), 16);
    // Sweeps at 0, 1 and 2 s of packet time: Z, silent from 0 to 2 s, is closed by the last, before its
    // record at 2 s, which starts a new flow.
    assert.equal(await metricValue(f.metrics.saversGarbageCollected), 1);
    assert.equal(await metricValue(f.metrics.saverStarts), 3);
    assert.equal(f.demuxer.activeFlows, 2);
    assert.equal(await metricValue(f.metrics.packetsSaved), 5 + 1 + 1);
    await f.demuxer.closeAll();
  });

  test('a flow with packets in every period survives the sweeps', () => {
    const f = (fixture = makeFixture({ flowTimeoutMs: 1000, captureDurationMs: 100_000, uuidWaitMs: 1000 }));
    for (let i = 0; i < 10; i++) {
      f.demuxer.handleBatch(packets(1), 1);
      f.clock.advance(1000);
      f.demuxer.tick();
    }
    assert.equal(f.demuxer.activeFlows, 1);
  });

  test('maxflows sheds new flows', async () => {
    const f = (fixture = makeFixture({ maxFlows: 1 }));
    f.demuxer.handleBatch(packets(1), 1);
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame({ ...client, sport: 40001 }) }]), 1);
    assert.equal(f.demuxer.activeFlows, 1);
    assert.equal(await metricValue(f.metrics.ignored, { reason: 'maxflows' }), 1);
  });

  test('maxheap sheds new flows but keeps existing ones', async () => {
    const f = (fixture = makeFixture({ maxHeapBytes: 1000 }));
    f.demuxer.handleEvent(openEvent('kept', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.memory.bytes = 2000;
    f.demuxer.handleBatch(packets(2), 1);
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame({ ...client, sport: 40001 }) }]), 1);
    assert.equal(await metricValue(f.metrics.ignored, { reason: 'maxheap' }), 1);
    await f.demuxer.closeAll();
    assert.equal(parsePcapGz(readFileSync(join(f.datadir, DAY, 'kept.pcap.gz'))).records.length, 2);
  });

  test('netblock anonymizes the remote side only', async () => {
    const f = (fixture = makeFixture({}, { anonymize: 'netblock', localAddresses: ['10.0.0.1'] }));
    const remote = { ...client, src: '10.9.9.77' };
    const reply = { ...server, dst: '10.9.9.77' };
    f.demuxer.handleEvent(openEvent('anon', '10.0.0.1', 80, '10.9.9.77', 40000));
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame(remote) }, { frame: ethernetFrame(reply) }]), 1);
    await f.demuxer.closeAll();
    const [a, b] = parsePcapGz(readFileSync(join(f.datadir, DAY, 'anon.pcap.gz'))).records;
    assert.deepEqual([...a.data.subarray(26, 34)], [10, 9, 9, 0, 10, 0, 0, 1]);
    assert.deepEqual([...b.data.subarray(26, 34)], [10, 0, 0, 1, 10, 9, 9, 0]);
  });

  test('a long flow spans several gzip members, all packets in order', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleEvent(openEvent('long', '10.0.0.1', 80, '10.0.0.2', 40000));
    const n = 3000; // ~330 KB of records: several 64 KiB chunks
    f.demuxer.handleBatch(batchOf(Array.from({ length: n }, (_, i) => ({ frame: ethernetFrame(client), timestampNs: 1_600_000_000_000_000_000n + BigInt(i) }))), 1);
    await f.demuxer.closeAll();
    const bytes = readFileSync(join(f.datadir, DAY, 'long.pcap.gz'));
    let members = 0;
    for (let i = 0; i + 2 < bytes.length; i++) if (bytes[i] === 0x1f && bytes[i + 1] === 0x8b && bytes[i + 2] === 8) members++;
    assert.ok(members >= 4, `${members} gzip members`);
    const pcap = parsePcapGz(bytes);
    assert.equal(pcap.records.length, n);
    pcap.records.forEach((r, i) => assert.equal(r.nanoseconds, i));
  });

  test('stream mode: the file appears while the flow is alive and grows', async () => {
    const f = (fixture = makeFixture({ stream: true, streamFlushMs: 1000 }));
    f.demuxer.handleEvent(openEvent('stream', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    f.clock.advance(1000);
    f.demuxer.tick();
    const path = join(f.datadir, DAY, 'stream.pcap.gz');
    // The member is compressed and appended asynchronously: wait (bounded) until it is all there.
    let records = -1;
    for (let i = 0; i < 200 && records !== 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
      try {
        records = parsePcapGz(readFileSync(path)).records.length;
      } catch {
        records = -1; // not there yet, or a member half written
      }
    }
    assert.equal(records, 2);
    f.demuxer.handleBatch(packets(3), 1);
    await f.demuxer.closeAll();
    assert.equal(parsePcapGz(readFileSync(path)).records.length, 5);
  });

  test('a write error loses that flow only, counted once, with nothing left behind', async () => {
    const f = (fixture = makeFixture());
    // A regular file where the year's directory belongs: the file cannot be made.
    const blocker = join(f.datadir, DAY.split('/')[0]);
    writeFileSync(blocker, 'not a directory');
    f.demuxer.handleEvent(openEvent('lost', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [DAY.split('/')[0]]);
    assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'write' }), 1);
    assert.equal(f.logs.filter((l) => l.includes('lost.pcap.gz') && l.includes('ENOTDIR')).length, 1);
    unlinkSync(blocker);
    f.demuxer.handleEvent(openEvent('next', '10.0.0.1', 81, '10.0.0.2', 40000));
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame({ ...server, sport: 81 }) }]), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/next.pcap.gz`]);
  });

  test('bad packets are counted, not fatal', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleBatch(batchOf([{ frame: Buffer.alloc(10) }, { frame: ethernetFrame(client), caplen: 40 }]), 1);
    assert.equal(await metricValue(f.metrics.badPackets), 2);
    assert.equal(f.demuxer.activeFlows, 0);
  });

  // A flow that already has its UUID gets an Open event with another UUID for
  // its 4-tuple, without a new SYN: written under the first UUID, the new one
  // names what follows, counted in pcap_flows_renamed_total and logged rarely.
  test('a reused 4-tuple with a new UUID and no new SYN: a new flow, counted as a rename and logged', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleEvent(openEvent('first', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    f.demuxer.handleEvent(openEvent('second', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(3), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/first.pcap.gz`, `${DAY}/second.pcap.gz`]);
    assert.equal(await metricValue(f.metrics.flowsRenamed), 1);
    assert.equal(await metricValue(f.metrics.tupleReuses), 0);
    assert.equal(f.logs.filter((l) => /flow first got another UUID, second, without a new SYN/.test(l)).length, 1);
  });

  /** n payload packets from the client, from port sport. */
  function clientPackets(n: number, sport = 40000): Buffer {
    return batchOf(Array.from({ length: n }, () => ({ frame: ethernetFrame({ ...client, sport, payload: Buffer.from('x') }) })));
  }

  test('the same UUID again, or the other end of a local connection, is no rename', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleEvent(openEvent('one', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(clientPackets(2), 1);
    f.demuxer.handleEvent(openEvent('one', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleEvent(openEvent('client-end', '10.0.0.2', 40000, '10.0.0.1', 80));
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/one.pcap.gz`]);
    assert.equal(await metricValue(f.metrics.flowsRenamed), 0);
  });

  test('renames are logged the 1st, 10th and 100th time only', async () => {
    const f = (fixture = makeFixture());
    for (let i = 0; i < 120; i++) {
      const port = 41000 + i;
      f.demuxer.handleEvent(openEvent(`a${i}`, '10.0.0.1', 80, '10.0.0.2', port));
      f.demuxer.handleBatch(clientPackets(1, port), 1);
      f.demuxer.handleEvent(openEvent(`b${i}`, '10.0.0.1', 80, '10.0.0.2', port));
    }
    await f.demuxer.closeAll();
    assert.equal(await metricValue(f.metrics.flowsRenamed), 120);
    const logged = f.logs.filter((l) => l.includes('another UUID'));
    assert.deepEqual(
      logged.map((l) => /\((\d+) so far/.exec(l)?.[1]),
      ['1', '10', '100'],
    );
  });

  test('both ends announced (a connection between two local sockets): one file, named by the first', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleBatch(packets(2), 1);
    f.demuxer.handleEvent(openEvent('server-end', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleEvent(openEvent('client-end', '10.0.0.2', 40000, '10.0.0.1', 80));
    f.demuxer.handleBatch(packets(2), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/server-end.pcap.gz`]);
    assert.equal(parsePcapGz(readFileSync(join(f.datadir, DAY, 'server-end.pcap.gz'))).records.length, 4);
  });

  // A client reconnecting from the same port: the new SYN is captured before
  // the new connection's UUID is announced, and must be in the new file.
  const SYN = 0x02;
  const SYN_ACK = 0x12;
  function handshake(seq: number): Buffer {
    return batchOf([
      { frame: ethernetFrame({ ...client, flags: SYN, seq }) },
      { frame: ethernetFrame({ ...server, flags: SYN_ACK, seq: 7 }) },
      { frame: ethernetFrame({ ...client, seq: seq + 1 }) },
    ]);
  }

  test('a reused 4-tuple: the new SYN, seen before the new UUID, opens the new flow', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleEvent(openEvent('first', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(handshake(100), 1);
    f.demuxer.handleBatch(handshake(5000), 1);
    f.demuxer.handleEvent(openEvent('second', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/first.pcap.gz`, `${DAY}/second.pcap.gz`]);
    const first = parsePcapGz(readFileSync(join(f.datadir, DAY, 'first.pcap.gz'))).records;
    const second = parsePcapGz(readFileSync(join(f.datadir, DAY, 'second.pcap.gz'))).records;
    assert.equal(first.length, 3);
    assert.equal(second.length, 5);
    assert.equal(second[0].data[14 + 20 + 13], SYN);
    assert.equal(second[0].data.readUInt32BE(14 + 20 + 4), 5000);
    assert.equal(await metricValue(f.metrics.tupleReuses), 1);
  });

  for (const takenBetween of [true, false]) {
    test(`live: names for both connections that come after the new SYN was routed, but before the demuxer heard of it, name each its own flow (${takenBetween ? 'flows taken on between them' : 'both before'})`, async () => {
      // As a live capture's thread does: both connections routed, the flows
      // they started not yet taken on when the first connection's name comes.
      const f = (fixture = makeFixture());
      const routeLive = (batch: Buffer) => f.store.route(batch, describeRecords(batch, 1), 1, null);
      routeLive(handshake(100));
      routeLive(handshake(5000));
      f.demuxer.handleEvent(openEvent('first', '10.0.0.1', 80, '10.0.0.2', 40000));
      if (takenBetween) f.demuxer.takeStartedFlows();
      f.demuxer.handleEvent(openEvent('second', '10.0.0.1', 80, '10.0.0.2', 40000));
      await f.demuxer.closeAll();
      assert.deepEqual(f.files(), [`${DAY}/first.pcap.gz`, `${DAY}/second.pcap.gz`]);
      const seqs = (name: string) => parsePcapGz(readFileSync(join(f.datadir, DAY, name))).records.map((r) => r.data.readUInt32BE(14 + 20 + 4));
      assert.deepEqual(seqs('first.pcap.gz'), [100, 7, 101]);
      assert.deepEqual(seqs('second.pcap.gz'), [5000, 7, 5001]);
      assert.equal(await metricValue(f.metrics.flowsRenamed), 0);
      assert.equal(await metricValue(f.metrics.tupleReuses), 1);
    });
  }

  test('a retransmitted SYN, or the other end\'s SYN of a simultaneous open, stays in the flow', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleEvent(openEvent('only', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(
      batchOf([
        { frame: ethernetFrame({ ...client, flags: SYN, seq: 100 }) },
        { frame: ethernetFrame({ ...client, flags: SYN, seq: 100 }) },
        { frame: ethernetFrame({ ...server, flags: SYN, seq: 9 }) },
        { frame: ethernetFrame({ ...client, flags: SYN_ACK, seq: 100 }) },
      ]),
      1,
    );
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/only.pcap.gz`]);
    assert.equal(parsePcapGz(readFileSync(join(f.datadir, DAY, 'only.pcap.gz'))).records.length, 4);
    assert.equal(await metricValue(f.metrics.tupleReuses), 0);
  });

  test('a SYN on a flow first seen mid-connection opens a new flow', async () => {
    const f = (fixture = makeFixture());
    f.demuxer.handleEvent(openEvent('old', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    f.demuxer.handleBatch(handshake(42), 1);
    f.demuxer.handleEvent(openEvent('new', '10.0.0.1', 80, '10.0.0.2', 40000));
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/new.pcap.gz`, `${DAY}/old.pcap.gz`]);
    assert.equal(parsePcapGz(readFileSync(join(f.datadir, DAY, 'new.pcap.gz'))).records.length, 3);
  });
});
