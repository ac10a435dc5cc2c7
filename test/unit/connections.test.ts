// A connection keeps every packet under its UUID however long it is quiet
// (within -captureduration, until its source reports it closed): the demuxer
// remembers named connections beyond their flows, and gives every file after
// a connection's first one a name of its own, so that no name is ever given
// to two files (an uploader may have shipped the first).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { makeFixture, metricValue, openEvent, type Fixture } from '../helpers/demuxfixture.js';
import { batchOf, ethernetFrame, type TcpSpec } from '../helpers/frames.js';
import { parsePcapGz } from '../helpers/pcapread.js';

const client: TcpSpec = { src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 80, flags: 0x10 };
const server: TcpSpec = { src: '10.0.0.1', dst: '10.0.0.2', sport: 80, dport: 40000, flags: 0x10 };
const SYN = 0x02;
const DAY = '2019/08/21';
const WALL = Date.UTC(2026, 11, 7, 16, 30, 45, 123);
const CONTINUATION = /^2019\/08\/21\/c1\.\d{8}T\d{6}\.\d{3}Z\.pcap\.gz$/;

let fixture: Fixture | undefined;
afterEach(() => fixture?.cleanup());

function packets(n: number, spec: Partial<TcpSpec> = {}): Buffer {
  return batchOf(Array.from({ length: n }, (_, i) => ({ frame: ethernetFrame({ ...(i % 2 ? server : client), ...spec }) })));
}

/** Two sweeps with nothing between: the flow times out (flowTimeoutMs 1000). */
function quiet(f: Fixture, ms = 2000): void {
  for (let t = 0; t < ms; t += 1000) {
    f.clock.advance(1000);
    f.demuxer.tick();
  }
}

function records(f: Fixture, name: string): number {
  return parsePcapGz(readFileSync(join(f.datadir, name))).records.length;
}

function fixtureFor(captureDurationMs = 30_000): Fixture {
  return makeFixture({ flowTimeoutMs: 1000, uuidWaitMs: 1000, captureDurationMs }, { wallClock: () => WALL });
}

describe('a named connection beyond its flow', () => {
  test('quiet past -flowtimeout, then more packets: they go under its UUID, in a file of their own name', async () => {
    const f = (fixture = fixtureFor());
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(4), 1);
    quiet(f, 3000);
    assert.equal(f.demuxer.activeFlows, 0, 'the flow timed out');
    assert.equal(await metricValue(f.metrics.connectionsRemembered), 1, 'its connection is remembered');
    await f.demuxer.drain();
    assert.deepEqual(f.files(), [`${DAY}/c1.pcap.gz`]);
    f.demuxer.handleBatch(packets(3), 1);
    quiet(f, 3000);
    f.demuxer.handleBatch(packets(2), 1);
    await f.demuxer.closeAll();
    const files = f.files();
    assert.equal(files.length, 3, files.join(', '));
    assert.equal(files[files.length - 1], `${DAY}/c1.pcap.gz`);
    for (const name of files.slice(0, 2)) assert.match(name, CONTINUATION);
    assert.notEqual(files[0], files[1], 'two continuations, two names');
    assert.deepEqual(files.map((n) => records(f, n)).sort(), [2, 3, 4]);
    assert.equal(await metricValue(f.metrics.missedPackets, { saverstate: 'uuidwait' }), 0);
    assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'uuidtimedout' }), 0);
  });

  test("-captureduration counts from the connection's first flow, not from the continuation's", async () => {
    const f = (fixture = fixtureFor(10_000));
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    quiet(f, 8000);
    f.demuxer.handleBatch(packets(2), 1); // at 8 s: a continuation
    quiet(f, 1000);
    f.clock.advance(500);
    f.demuxer.handleBatch(packets(1), 1);
    f.clock.advance(500);
    f.demuxer.tick(); // 10 s: the capture is over, its file complete
    await f.demuxer.drain();
    assert.equal(f.files().length, 2);
    f.demuxer.handleBatch(packets(3), 1);
    assert.equal(await metricValue(f.metrics.missedPackets, { saverstate: 'filewritten' }), 3, 'not wanted, not lost');
    await f.demuxer.closeAll();
    assert.equal(f.files().length, 2);
  });

  test('reported closed by its source: forgotten once its flow ends; later packets wait for a name as any new flow', async () => {
    const f = (fixture = fixtureFor());
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    f.demuxer.handleEvent({ kind: 'close', uuid: 'c1', timestampMs: WALL, key: null });
    f.demuxer.handleBatch(packets(2), 1); // after the close, in the same flow: kept
    quiet(f, 3000);
    f.demuxer.handleBatch(packets(2), 1);
    quiet(f, 1000);
    assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'uuidtimedout' }), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/c1.pcap.gz`]);
    assert.equal(records(f, `${DAY}/c1.pcap.gz`), 4);
  });

  test('an opening SYN on its 4-tuple is a new connection: not named after the old one', async () => {
    const f = (fixture = fixtureFor());
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    quiet(f, 3000);
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame({ ...client, flags: SYN, seq: 5 }) }]), 1);
    f.demuxer.handleEvent(openEvent('c2', '10.0.0.2', 40000, '10.0.0.1', 80));
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/c1.pcap.gz`, `${DAY}/c2.pcap.gz`]);
  });

  test('announced again with the same UUID after its flow ended: a continuation, never its first name again', async () => {
    const f = (fixture = fixtureFor());
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(2), 1);
    quiet(f, 3000);
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(packets(1), 1);
    await f.demuxer.closeAll();
    const files = f.files();
    assert.equal(files.length, 2);
    assert.match(files[0], CONTINUATION);
  });

  test('a connection that existed before this run: its first file of this run is a continuation', async () => {
    const f = (fixture = fixtureFor());
    f.demuxer.handleEvent({ ...openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000), continued: true });
    f.demuxer.handleBatch(packets(2), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/c1.20261207T163045.123Z.pcap.gz`]);
  });
});

describe('a connection announced long before its packets', () => {
  test('its opening SYN, past -flowtimeout after the announcement, is its own: the connection goes to its first file', async () => {
    const f = (fixture = fixtureFor());
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    quiet(f, 5000);
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame({ ...client, flags: SYN, seq: 7 }) }, { frame: ethernetFrame({ ...server, flags: SYN | 0x10, seq: 9 }) }]), 1);
    f.demuxer.handleBatch(packets(3), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/c1.pcap.gz`]);
    assert.equal(records(f, `${DAY}/c1.pcap.gz`), 5);
  });

  test('a retransmission of its opening SYN after a gap is still the connection; a SYN of another sequence number is not', async () => {
    const f = (fixture = fixtureFor());
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame({ ...client, flags: SYN, seq: 7 }) }]), 1);
    quiet(f, 3000);
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame({ ...client, flags: SYN, seq: 7 }) }]), 1);
    quiet(f, 3000);
    f.demuxer.handleBatch(batchOf([{ frame: ethernetFrame({ ...client, flags: SYN, seq: 1000 }) }]), 1);
    quiet(f, 3000);
    await f.demuxer.drain();
    const files = f.files();
    assert.equal(files.length, 2, files.join(', '));
    assert.ok(files.includes(`${DAY}/c1.pcap.gz`));
    assert.equal(await metricValue(f.metrics.saverErrors, { reason: 'uuidtimedout' }), 1, 'the new connection waited for its own UUID');
    await f.demuxer.closeAll();
  });

  test('its packets, starting past -flowtimeout after the announcement, go to its first file under its UUID', async () => {
    const f = (fixture = fixtureFor());
    f.demuxer.handleEvent(openEvent('c1', '10.0.0.1', 80, '10.0.0.2', 40000));
    quiet(f, 5000);
    assert.equal(f.demuxer.activeFlows, 0, 'the announced flow timed out without packets');
    f.demuxer.handleBatch(packets(3), 1);
    await f.demuxer.closeAll();
    assert.deepEqual(f.files(), [`${DAY}/c1.pcap.gz`]);
    assert.equal(records(f, `${DAY}/c1.pcap.gz`), 3);
  });
});
