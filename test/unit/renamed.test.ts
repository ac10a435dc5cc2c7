// A flow that already has its UUID gets an Open event with another UUID for
// its 4-tuple, without a new SYN: written under the first UUID, the new one
// names what follows, counted in pcap_flows_renamed_total and logged rarely.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { makeFixture, metricValue, openEvent, type Fixture } from '../helpers/demuxfixture.js';
import { batchOf, ethernetFrame, type TcpSpec } from '../helpers/frames.js';

const client: TcpSpec = { src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 80 };
const DAY = '2019/08/21';

let fixture: Fixture | undefined;
afterEach(() => fixture?.cleanup());

function packets(n: number, sport = 40000): Buffer {
  return batchOf(Array.from({ length: n }, () => ({ frame: ethernetFrame({ ...client, sport, payload: Buffer.from('x') }) })));
}

test('another UUID without a new SYN: counted, the first file written, the new UUID names the rest', async () => {
  const f = (fixture = makeFixture());
  f.demuxer.handleEvent(openEvent('first', '10.0.0.1', 80, '10.0.0.2', 40000));
  f.demuxer.handleBatch(packets(2), 1);
  f.demuxer.handleEvent(openEvent('second', '10.0.0.1', 80, '10.0.0.2', 40000));
  f.demuxer.handleBatch(packets(1), 1);
  await f.demuxer.closeAll();
  assert.deepEqual(f.files(), [`${DAY}/first.pcap.gz`, `${DAY}/second.pcap.gz`]);
  assert.equal(await metricValue(f.metrics.flowsRenamed), 1);
  assert.equal(await metricValue(f.metrics.tupleReuses), 0);
  assert.equal(f.logs.filter((l) => /flow first got another UUID, second, without a new SYN/.test(l)).length, 1);
});

test('the same UUID again, or the other end of a local connection, is no rename', async () => {
  const f = (fixture = makeFixture());
  f.demuxer.handleEvent(openEvent('one', '10.0.0.1', 80, '10.0.0.2', 40000));
  f.demuxer.handleBatch(packets(2), 1);
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
    f.demuxer.handleBatch(packets(1, port), 1);
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
