// The built-in flow source with a fake socket table: only full sockets name
// flows. A request socket (SYN_RECV) or a TIME_WAIT socket can carry a cookie
// the accepted socket never had; naming a flow with it split the connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SOCKET_RECORD_BYTES } from '../../src/native/layout.js';
import type { NativeAddon, NativeSocketWatch } from '../../src/native/addon.js';
import { flowKeyFromText, newFlowKey } from '../../src/decode/flowkey.js';
import { KernelFlowSource } from '../../src/flowevents/kernelsource.js';
import type { FlowOpenEvent } from '../../src/flowevents/types.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { metricValue } from '../helpers/demuxfixture.js';

const ESTABLISHED = 1;
const SYN_RECV = 3;
const TIME_WAIT = 6;
const FIN_WAIT2 = 5;
const CLOSE = 7;
/** inet_diag's timer of a time-wait socket; a full socket's is 0, 1, 2 or 4. */
const TIME_WAIT_TIMER = 3;
const KEEPALIVE_TIMER = 2;

/** A socket record as sockdiag.cc makes it: 10.0.0.1:80 (local) and 10.0.0.2:port. */
function record(cookie: number, state: number, port = 40000, timer = state === TIME_WAIT ? TIME_WAIT_TIMER : 0): Buffer {
  const r = Buffer.alloc(SOCKET_RECORD_BYTES);
  r.writeUInt32LE(cookie, 0);
  r.writeUInt16LE(80, 8);
  r.writeUInt16LE(port, 10);
  r[12] = state;
  r[13] = 2; // AF_INET
  r[14] = timer;
  for (const [at, last] of [[16, 1], [32, 2]] as const) {
    r[at + 10] = 0xff;
    r[at + 11] = 0xff;
    r.set([10, 0, 0, last], at + 12);
  }
  return r;
}

class FakeTable {
  dump: Buffer[] = [];
  /** Answers of successive lookups (one query each); a miss after the last. */
  answers: Buffer[] = [];
  lookups = 0;
  destroyed: ((records: Buffer, overruns: number) => void) | null = null;
  addon(): Pick<NativeAddon, 'sockDiagDump' | 'sockDiagLookup' | 'SocketWatch'> {
    const table = this;
    return {
      sockDiagDump: async () => Buffer.concat(table.dump),
      sockDiagLookup: async (queries: Buffer) => {
        table.lookups++;
        const answer = table.answers.shift() ?? Buffer.alloc(SOCKET_RECORD_BYTES);
        assert.equal(queries.length, 36);
        return answer;
      },
      SocketWatch: class implements NativeSocketWatch {
        start(onBatch: (records: Buffer, overruns: number) => void): void {
          table.destroyed = onBatch;
        }
        stop(): void {}
      },
    };
  }
}

async function source(table: FakeTable): Promise<{ ks: KernelFlowSource; events: FlowOpenEvent[]; metrics: Metrics }> {
  const events: FlowOpenEvent[] = [];
  const metrics = new Metrics({ processMetrics: false });
  const ks = new KernelFlowSource({ prefix: 'p', pollMs: 60_000, addon: table.addon(), metrics, log: () => {} });
  await ks.start((e) => {
    if (e.kind === 'open') events.push(e);
  });
  return { ks, events, metrics };
}

function key(port = 40000) {
  const k = newFlowKey();
  assert.ok(flowKeyFromText('10.0.0.1', 80, '10.0.0.2', port, k));
  return k;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

test('a poll announces full sockets only: not request or unknown TIME_WAIT sockets', async () => {
  const table = new FakeTable();
  table.dump = [record(0x11, SYN_RECV, 40001), record(0x12, TIME_WAIT, 40002), record(0x13, ESTABLISHED, 40003)];
  const { ks, events, metrics } = await source(table);
  assert.deepEqual(events.map((e) => e.uuid), ['p_0000000000000013']);
  assert.equal(await metricValue(metrics.kernelSockets), 1);
  await ks.stop();
});

test('a TIME_WAIT socket with a known cookie keeps it known: a late destroy report names nothing twice', async () => {
  const table = new FakeTable();
  table.dump = [record(0x21, ESTABLISHED)];
  const { ks, events } = await source(table);
  table.dump = [record(0x21, TIME_WAIT)];
  await (ks as unknown as { poll(): Promise<void> }).poll();
  table.destroyed!(record(0x21, CLOSE), 0);
  assert.deepEqual(events.map((e) => e.uuid), ['p_0000000000000021']);
  await ks.stop();
});

test('a lookup that finds the request socket keeps trying until the accepted socket exists', async () => {
  const table = new FakeTable();
  const { ks, events, metrics } = await source(table);
  // The five regular tries and the first extra one find the request socket (its own cookie).
  table.answers = [...Array.from({ length: 6 }, () => record(0x31, SYN_RECV)), record(0x32, ESTABLISHED)];
  ks.lookup(key());
  await until(() => events.length > 0, 'named');
  assert.deepEqual(events.map((e) => e.uuid), ['p_0000000000000032']);
  assert.equal(table.lookups, 7);
  assert.equal(await metricValue(metrics.kernelLookupMisses), 0);
  assert.equal(await metricValue(metrics.kernelUuids, { how: 'lookup' }), 1);
  await ks.stop();
});

test('a lookup that finds a TIME_WAIT socket stops (the destroy report names the flow); plain misses stop after five tries', async () => {
  const table = new FakeTable();
  const { ks, events, metrics } = await source(table);
  table.answers = [record(0x41, TIME_WAIT, 40001)];
  ks.lookup(key(40001));
  await until(() => table.lookups === 1, 'one try');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(table.lookups, 1);
  assert.equal(events.length, 0);
  table.destroyed!(record(0x40, CLOSE, 40001), 0);
  assert.deepEqual(events.map((e) => e.uuid), ['p_0000000000000040']);

  ks.lookup(key(40002));
  await until(() => table.lookups === 6, 'five tries');
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(table.lookups, 6, 'no try after the fifth without a request socket');
  assert.equal(await metricValue(metrics.kernelLookupMisses), 2);
  await ks.stop();
});

test('a time-wait socket reported in FIN_WAIT2 (its peer has not sent FIN yet) is a TIME_WAIT socket: a poll or lookup names nothing with it; a full FIN_WAIT2 socket names its flow', async () => {
  const table = new FakeTable();
  // The server closed first and its socket became a time-wait socket before the client's FIN: the
  // kernel reports it in FIN_WAIT2 with the time-wait timer, and with a cookie no application saw.
  table.dump = [record(0x71, FIN_WAIT2, 40001, TIME_WAIT_TIMER), record(0x72, FIN_WAIT2, 40002, KEEPALIVE_TIMER)];
  const { ks, events, metrics } = await source(table);
  assert.deepEqual(events.map((e) => e.uuid), ['p_0000000000000072']);
  assert.equal(await metricValue(metrics.kernelSockets), 1);

  table.answers = [record(0x73, FIN_WAIT2, 40003, TIME_WAIT_TIMER)];
  ks.lookup(key(40003));
  await until(() => table.lookups === 1, 'one try');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(table.lookups, 1, 'found in time-wait: the destroy report names the flow');
  table.destroyed!(record(0x74, CLOSE, 40003), 0);
  assert.deepEqual(events.map((e) => e.uuid), ['p_0000000000000072', 'p_0000000000000074']);
  await ks.stop();
});

test('the poll runs every -socketpoll with destroy reports, and every 100 ms at most without them', async (t) => {
  // Timers are mocked: the periods are counted exactly, without sleeping.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  /** Lets the poll that a fired timer started finish (its dump is a resolved promise) and arm the next timer. */
  const settle = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  for (const reports of [true, false]) {
    const table = new FakeTable();
    let dumps = 0;
    const addon = table.addon();
    const counted = {
      ...addon,
      sockDiagDump: async () => {
        dumps++;
        return Buffer.alloc(0);
      },
      SocketWatch: reports
        ? addon.SocketWatch
        : class implements NativeSocketWatch {
            start(): void {
              throw new Error('EPERM');
            }
            stop(): void {}
          },
    };
    const logged: string[] = [];
    const ks = new KernelFlowSource({ prefix: 'p', pollMs: 60_000, addon: counted, metrics: new Metrics({ processMetrics: false }), log: (m) => logged.push(m) });
    await ks.start(() => {});
    await settle();
    for (let i = 0; i < 5; i++) {
      t.mock.timers.tick(100);
      await settle();
    }
    if (reports) {
      assert.equal(dumps, 1, 'the first poll only, within a -socketpoll of 60 s');
      t.mock.timers.tick(60_000 - 500);
      await settle();
      assert.equal(dumps, 2, 'the next one -socketpoll after the first');
      assert.deepEqual(logged.filter((line) => !line.startsWith('naming flows from')), [], 'nothing but the start line');
    } else {
      assert.equal(dumps, 6, 'one at start, then one every 100 ms');
      assert.match(logged.join('\n'), /no socket-destroy reports \(EPERM\); polling the socket table every 100 ms/);
    }
    await ks.stop();
  }
});
