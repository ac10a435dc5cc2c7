import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventSocketClient, LineSplitter, type EventSocketClientOptions } from '../../src/flowevents/eventsocket.js';
import type { BadEventReason, FlowEvent } from '../../src/flowevents/types.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'ph-eventsocket-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let socketCounter = 0;
function socketPath(): string {
  return path.join(tmpRoot, `s${socketCounter++}.sock`);
}

const WAIT_MS = 5000;

/** Polls `cond` until it holds; fails after a bounded wait. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openLine(uuid: string, eol = '\n'): string {
  return (
    JSON.stringify({
      Event: 0,
      Timestamp: '2019-08-21T16:10:00.123456789Z',
      UUID: uuid,
      ID: { SPort: 443, DPort: 48072, SrcIP: '2001:db8::86', DstIP: '2001:db8:1::9', Interface: 0, Cookie: 109359 },
    }) + eol
  );
}
function closeLine(uuid: string, eol = '\n'): string {
  return JSON.stringify({ Event: 1, Timestamp: '2019-08-21T16:10:05.5Z', UUID: uuid, ID: null }) + eol;
}

/** A net.Server on a unix socket that hands out its accepted connections in order. */
class TestServer {
  readonly server: net.Server;
  readonly accepted: net.Socket[] = [];
  private taken = 0;
  private constructor(server: net.Server) {
    this.server = server;
    server.on('connection', (s) => {
      s.on('error', () => {});
      this.accepted.push(s);
    });
  }
  static async listen(p: string): Promise<TestServer> {
    const t = new TestServer(net.createServer());
    await new Promise<void>((resolve, reject) => {
      t.server.once('error', reject);
      t.server.listen(p, () => resolve());
    });
    return t;
  }
  /** The next connection not yet taken. */
  async next(): Promise<net.Socket> {
    await waitFor(() => this.accepted.length > this.taken, 'a connection');
    return this.accepted[this.taken++];
  }
  async close(): Promise<void> {
    for (const s of this.accepted) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Records every callback of a client. */
class Recorder {
  events: FlowEvent[] = [];
  bad: BadEventReason[] = [];
  states: boolean[] = [];
  logs: string[] = [];
  readonly emit = (e: FlowEvent): void => {
    this.events.push(e);
  };
  options(p: string, extra: Partial<EventSocketClientOptions> = {}): EventSocketClientOptions {
    return {
      path: p,
      onBadLine: (r) => this.bad.push(r),
      onConnectedChange: (c) => this.states.push(c),
      log: (m) => this.logs.push(m),
      initialBackoffMs: 1,
      maxBackoffMs: 5,
      ...extra,
    };
  }
  uuids(): string[] {
    return this.events.map((e) => e.uuid);
  }
  logsMatching(re: RegExp): number {
    return this.logs.filter((m) => re.test(m)).length;
  }
}

async function connectedPair(extra: Partial<EventSocketClientOptions> = {}, emit?: (e: FlowEvent) => void) {
  const p = socketPath();
  const server = await TestServer.listen(p);
  const rec = new Recorder();
  const client = new EventSocketClient(rec.options(p, extra));
  void client.start(emit ?? rec.emit);
  const conn = await server.next();
  await waitFor(() => client.isConnected, 'connected');
  const done = async () => {
    await client.stop();
    await server.close();
  };
  return { p, server, rec, client, conn, done };
}

test('events arrive in order, Opens and Closes, in one write and in many', async () => {
  const { rec, conn, done, client } = await connectedPair();
  try {
    assert.deepEqual(rec.states, [true]);
    let batch = '';
    for (let i = 0; i < 200; i++) batch += i % 2 === 0 ? openLine(`u${i}`) : closeLine(`u${i}`);
    conn.write(batch);
    for (let i = 200; i < 260; i++) conn.write(openLine(`u${i}`));
    await waitFor(() => rec.events.length === 260, '260 events');
    assert.deepEqual(rec.uuids(), Array.from({ length: 260 }, (_, i) => `u${i}`));
    assert.deepEqual(
      rec.events.slice(0, 4).map((e) => e.kind),
      ['open', 'close', 'open', 'close'],
    );
    const first = rec.events[0];
    assert.equal(first.kind, 'open');
    assert.equal(first.timestampMs, Date.UTC(2019, 7, 21, 16, 10, 0, 123));
    assert.equal(first.kind === 'open' && first.cookie, 109359n);
    assert.deepEqual(rec.bad, []);
    assert.ok(client.isConnected);
  } finally {
    await done();
  }
});

test('a line split across many writes', async () => {
  const { rec, conn, done } = await connectedPair();
  try {
    const text = openLine('split-1') + closeLine('split-2') + openLine('split-3');
    for (let i = 0; i < text.length; i += 7) {
      conn.write(text.slice(i, i + 7));
      if (i % 70 === 0) await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => rec.events.length === 3, '3 events');
    assert.deepEqual(rec.uuids(), ['split-1', 'split-2', 'split-3']);
    assert.deepEqual(rec.bad, []);
  } finally {
    await done();
  }
});

test('\\r\\n line ends, blank lines, bad lines and invalid UTF-8', async () => {
  const { rec, conn, done } = await connectedPair();
  try {
    conn.write(openLine('crlf-1', '\r\n') + '\r\n\n' + closeLine('crlf-2', '\r\n'));
    conn.write('not json\r\n');
    conn.write(Buffer.concat([Buffer.from('{"Event":0,"UUID":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]));
    conn.write(JSON.stringify({ Event: 0, Timestamp: '2019-08-21T16:10:00Z', UUID: '../x', ID: null }) + '\n');
    conn.write(openLine('crlf-3', '\r\n'));
    await waitFor(() => rec.events.length === 3, '3 events');
    assert.deepEqual(rec.uuids(), ['crlf-1', 'crlf-2', 'crlf-3']);
    assert.deepEqual(rec.bad, ['json', 'json', 'unsafe_uuid']);
  } finally {
    await done();
  }
});

test('a 10 MiB line without newline is dropped as one `toolong`; the next line still arrives', async () => {
  const { rec, conn, done } = await connectedPair();
  try {
    conn.write(openLine('before'));
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61); // 'a'
    conn.write(big);
    conn.write('{"still":"the same long line"}\n');
    conn.write(openLine('after'));
    await waitFor(() => rec.events.length === 2, '2 events');
    assert.deepEqual(rec.uuids(), ['before', 'after']);
    assert.deepEqual(rec.bad, ['toolong']);
    // A complete line just over the limit is toolong too; one at the limit is parsed.
    const limit = 64 * 1024;
    const pad = (n: number) => {
      const base = openLine('edge').slice(0, -2); // drop "}\n"
      return base + ',"Pad":"' + 'x'.repeat(n - base.length - 10) + '"}';
    };
    assert.equal(Buffer.byteLength(pad(limit)), limit);
    conn.write(pad(limit + 1) + '\n' + pad(limit) + '\n');
    await waitFor(() => rec.events.length === 3, 'the line at the limit');
    assert.deepEqual(rec.bad, ['toolong', 'toolong']);
  } finally {
    await done();
  }
});

test('LineSplitter holds at most maxLineBytes of a partial line', () => {
  const lines: string[] = [];
  let tooLong = 0;
  const max = 1000;
  const s = new LineSplitter(max, (l) => lines.push(l.toString()), () => tooLong++);
  let peak = 0;
  const chunk = Buffer.alloc(300, 0x62);
  for (let i = 0; i < 35_000; i++) {
    // ~10 MiB without a newline
    s.push(chunk);
    peak = Math.max(peak, s.bufferedBytes);
  }
  assert.ok(peak <= max, `peak ${peak}`);
  assert.equal(tooLong, 1);
  s.push(Buffer.from('tail of the long line\nok1\nok'));
  s.push(Buffer.from('2\n'));
  assert.deepEqual(lines, ['ok1', 'ok2']);
  // Byte by byte.
  for (const b of Buffer.from('abc\r\nxyz\n')) s.push(Buffer.from([b]));
  assert.deepEqual(lines, ['ok1', 'ok2', 'abc\r', 'xyz']);
  // A partial line is forgotten at reset.
  s.push(Buffer.from('partial'));
  s.reset();
  s.push(Buffer.from('fresh\n'));
  assert.deepEqual(lines.at(-1), 'fresh');
  // Exactly at the limit in pieces, then one over.
  s.push(Buffer.alloc(600, 0x63));
  s.push(Buffer.alloc(400, 0x63));
  s.push(Buffer.from('\n'));
  assert.equal(lines.at(-1)?.length, 1000);
  s.push(Buffer.alloc(600, 0x63));
  s.push(Buffer.alloc(401, 0x63));
  s.push(Buffer.from('\nafter\n'));
  assert.equal(tooLong, 2);
  assert.equal(lines.at(-1), 'after');
});

test('the server closing the connection 20 times: reconnects each time and later events arrive', async () => {
  const { rec, server, conn: first, done } = await connectedPair();
  try {
    let conn = first;
    for (let i = 0; i < 20; i++) {
      conn.write(openLine(`r${i}`));
      // A partial line at the disconnect must be discarded, not glued to the next connection's bytes.
      conn.end('{"Event":0,"Timestamp":"2019-08-21T16:10:00Z","UUI');
      conn = await server.next();
      conn.write('D":"glued","ID":null}\n');
    }
    conn.write(openLine('last'));
    await waitFor(() => rec.events.length === 21, '21 events');
    assert.deepEqual(rec.uuids(), [...Array.from({ length: 20 }, (_, i) => `r${i}`), 'last']);
    assert.deepEqual(rec.bad, Array(20).fill('json'));
    await waitFor(() => rec.states.length === 41, '41 state changes');
    assert.deepEqual(rec.states, Array.from({ length: 41 }, (_, i) => i % 2 === 0));
    assert.equal(rec.logsMatching(/connected to/), 21);
    assert.equal(rec.logsMatching(/disconnected from/), 20);
    assert.equal(server.accepted.length, 21);
  } finally {
    await done();
  }
});

test('the server not existing at start: retries until it appears, logging rarely', async () => {
  const p = socketPath();
  const rec = new Recorder();
  const client = new EventSocketClient(rec.options(p, { initialBackoffMs: 1, maxBackoffMs: 2 }));
  void client.start(rec.emit);
  void client.start(rec.emit); // idempotent
  await waitFor(() => rec.logsMatching(/still cannot connect .* after 20 attempts/) === 1, '20 failed attempts');
  assert.equal(rec.logsMatching(/cannot connect to .*; retrying/), 1);
  assert.ok(rec.logs.length <= 3, rec.logs.join('\n'));
  assert.deepEqual(rec.states, []);
  assert.ok(!client.isConnected);
  const server = await TestServer.listen(p);
  try {
    const conn = await server.next();
    await waitFor(() => client.isConnected, 'connected');
    assert.match(rec.logs.at(-1) ?? '', /connected to .* after \d+ failed attempt/);
    conn.write(openLine('late'));
    await waitFor(() => rec.events.length === 1, 'an event');
    assert.equal(rec.events[0].uuid, 'late');
    assert.deepEqual(rec.states, [true]);
  } finally {
    await client.stop();
    await server.close();
  }
});

test('backoff doubles up to the ceiling, and a refused connect is retried too', async () => {
  const p = socketPath();
  fs.writeFileSync(p, ''); // not a socket: connect fails with ECONNREFUSED rather than ENOENT
  const rec = new Recorder();
  const client = new EventSocketClient(rec.options(p, { initialBackoffMs: 20, maxBackoffMs: 40 }));
  void client.start(rec.emit);
  await waitFor(() => rec.logs.length >= 1, 'first failure');
  assert.match(rec.logs[0], /ECONNREFUSED/);
  const t0 = Date.now();
  await delay(200);
  const attempts = client.connectAttempts;
  const elapsed = Date.now() - t0;
  await client.stop();
  // Delays 20, 40, 40, 40 ...: at most about 1 + 20/20 + 180/40 attempts in 200 ms.
  assert.ok(attempts >= 2 && attempts <= 2 + Math.ceil(elapsed / 40), `${attempts} attempts in ${elapsed} ms`);
  assert.equal(rec.logsMatching(/cannot connect/), 1);
  fs.rmSync(p);
});

test('stop() stops everything: no reconnect, the connection ends, and it is idempotent', async () => {
  const { rec, server, client, conn } = await connectedPair();
  const ended = new Promise<void>((r) => conn.on('close', () => r()));
  await client.stop();
  await ended;
  assert.ok(!client.isConnected);
  assert.deepEqual(rec.states, [true, false]);
  assert.match(rec.logs.at(-1) ?? '', /disconnected .*\(closing\)/);
  await delay(30); // several backoff periods
  assert.equal(server.accepted.length, 1);
  await client.stop();
  void client.start(rec.emit); // a stopped client stays stopped
  await delay(10);
  assert.equal(server.accepted.length, 1);
  await server.close();

  // stop() while waiting to retry, and before start(), resolves at once.
  const idle = new EventSocketClient(new Recorder().options(socketPath(), { initialBackoffMs: 60_000 }));
  void idle.start(() => {});
  await delay(20);
  await idle.stop();
  await new EventSocketClient(new Recorder().options(socketPath())).stop();
});

test('a throwing callback is logged and does not break the stream', async () => {
  let n = 0;
  const events: FlowEvent[] = [];
  const { rec, conn, done } = await connectedPair({}, (e) => {
    n++;
    if (e.uuid === 'boom') throw new Error('kaboom');
    events.push(e);
  });
  try {
    conn.write(openLine('a') + openLine('boom') + openLine('b'));
    await waitFor(() => events.length === 2, '2 events');
    assert.equal(n, 3);
    assert.deepEqual(events.map((e) => e.uuid), ['a', 'b']);
    assert.equal(rec.logsMatching(/onEvent threw: kaboom/), 1);
  } finally {
    await done();
  }
});
