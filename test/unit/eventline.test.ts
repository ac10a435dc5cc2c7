import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flowKeyFromText, flowKeysEqual, newFlowKey, type FlowKey } from '../../src/decode/flowkey.js';
import { isSafeUuid, parseEventLine, parseRfc3339Ms } from '../../src/flowevents/eventline.js';
import { BAD_EVENT_REASONS, type BadEventReason, type FlowEvent, type FlowOpenEvent } from '../../src/flowevents/types.js';

const OPEN_LINE =
  '{"Event":0,"Timestamp":"2019-08-21T16:10:00.123456789Z","UUID":"host_1566407000_unsafe_000000000001AB2F","ID":{"SPort":443,"DPort":48072,"SrcIP":"2001:db8::86","DstIP":"2001:db8:1::9","Interface":0,"Cookie":109359}}';
const CLOSE_LINE =
  '{"Event":1,"Timestamp":"2019-08-21T16:10:05.5Z","UUID":"host_1566407000_unsafe_000000000001AB2F","ID":null}';

function ok(line: string): FlowEvent {
  const r = parseEventLine(line);
  if (!r.ok) assert.fail(`expected ok for ${line.slice(0, 200)}, got ${r.reason}`);
  return r.event;
}

function open(line: string): FlowOpenEvent {
  const e = ok(line);
  assert.equal(e.kind, 'open');
  return e as FlowOpenEvent;
}

function badReason(line: string): BadEventReason {
  const r = parseEventLine(line);
  assert.ok(!r.ok, `expected a bad line: ${line.slice(0, 200)}`);
  return r.reason;
}

function keyOf(src: string, sport: number, dst: string, dport: number): FlowKey {
  const k = newFlowKey();
  assert.ok(flowKeyFromText(src, sport, dst, dport, k));
  return k;
}

type Obj = Record<string, unknown>;
/** An event line: `over` replaces top-level fields, `idOver` ID fields ('absent' drops ID, null makes it null). */
function line(over: Obj = {}, idOver: Obj | null | 'absent' = {}): string {
  const base: Obj = { Event: 0, Timestamp: '2019-08-21T16:10:00Z', UUID: 'u1' };
  const id: Obj = { SPort: 1, DPort: 2, SrcIP: '10.0.0.1', DstIP: '10.0.0.2', Interface: 0, Cookie: 7 };
  const ev: Obj = { ...base, ID: idOver === null ? null : idOver === 'absent' ? undefined : { ...id, ...idOver }, ...over };
  return JSON.stringify(ev);
}

test('the example Open line', () => {
  const e = open(OPEN_LINE);
  assert.equal(e.uuid, 'host_1566407000_unsafe_000000000001AB2F');
  assert.equal(e.timestampMs, Date.UTC(2019, 7, 21, 16, 10, 0, 123));
  assert.ok(flowKeysEqual(e.key, keyOf('2001:db8::86', 443, '2001:db8:1::9', 48072)));
  assert.equal(e.cookie, 109359n);
  assert.equal(e.srcIP, '2001:db8::86');
  assert.equal(e.srcPort, 443);
  assert.equal(e.dstIP, '2001:db8:1::9');
  assert.equal(e.dstPort, 48072);
});

test('the example Close line', () => {
  const e = ok(CLOSE_LINE);
  assert.deepEqual(e, {
    kind: 'close',
    uuid: 'host_1566407000_unsafe_000000000001AB2F',
    timestampMs: Date.UTC(2019, 7, 21, 16, 10, 5, 500),
    key: null,
  });
});

test('a Close with an ID carries its key; a Close without or with a broken ID has a null key', () => {
  const withId = ok(line({ Event: 1 }));
  assert.equal(withId.kind, 'close');
  assert.ok(withId.key !== null && flowKeysEqual(withId.key, keyOf('10.0.0.1', 1, '10.0.0.2', 2)));
  assert.equal(ok(line({ Event: 1 }, 'absent')).key, null);
  assert.equal(ok(line({ Event: 1 }, { SPort: 70000 })).key, null);
  assert.equal(ok(line({ Event: 1, ID: 'x' })).key, null);
});

test('IPv4 and IPv4-mapped IPv6 give the same key as plain IPv4', () => {
  const plain = open(line({}, { SrcIP: '192.0.2.1', DstIP: '198.51.100.7', SPort: 80, DPort: 5000 })).key;
  const mapped = open(line({}, { SrcIP: '::ffff:192.0.2.1', DstIP: '::ffff:198.51.100.7', SPort: 80, DPort: 5000 })).key;
  const mappedHex = open(line({}, { SrcIP: '::ffff:c000:201', DstIP: '::FFFF:C633:6407', SPort: 80, DPort: 5000 })).key;
  const mixed = open(line({}, { SrcIP: '192.0.2.1', DstIP: '0:0:0:0:0:ffff:198.51.100.7', SPort: 80, DPort: 5000 })).key;
  assert.ok(flowKeysEqual(plain, mapped));
  assert.ok(flowKeysEqual(plain, mappedHex));
  assert.ok(flowKeysEqual(plain, mixed));
  assert.ok(flowKeysEqual(plain, keyOf('192.0.2.1', 80, '198.51.100.7', 5000)));
});

test('swapping source and destination gives the same key', () => {
  for (const [a, pa, b, pb] of [
    ['10.0.0.1', 443, '10.0.0.2', 50000],
    ['10.0.0.2', 443, '10.0.0.1', 50000],
    ['2001:db8::86', 443, '2001:db8:1::9', 48072],
    ['2001:db8::1', 1, '2001:db8::1', 2], // same address, ports decide
  ] as const) {
    const fwd = open(line({}, { SrcIP: a, SPort: pa, DstIP: b, DPort: pb })).key;
    const rev = open(line({}, { SrcIP: b, SPort: pb, DstIP: a, DPort: pa })).key;
    assert.ok(flowKeysEqual(fwd, rev), `${a}:${pa} <-> ${b}:${pb}`);
  }
  const one = open(line({}, { SPort: 1, DPort: 2 })).key;
  const other = open(line({}, { SPort: 2, DPort: 1 })).key;
  assert.ok(!flowKeysEqual(one, other), 'a different 4-tuple is a different flow');
});

test('every bad reason, with a representative line', () => {
  const cases: Array<[BadEventReason, string]> = [
    ['json', 'not json'],
    ['json', '{"Event":0,'],
    ['json', '[1,2]'],
    ['json', 'null'],
    ['json', '"a string"'],
    ['json', '42'],
    ['json', ''],
    ['event', line({ Event: undefined })],
    ['event', line({ Event: 2 })],
    ['event', line({ Event: '0' })],
    ['event', line({ Event: null })],
    ['event', line({ Event: 0.5 })],
    ['uuid', line({ UUID: undefined })],
    ['uuid', line({ UUID: 12 })],
    ['uuid', line({ UUID: null })],
    ['unsafe_uuid', line({ UUID: '../etc/passwd' })],
    ['timestamp', line({ Timestamp: undefined })],
    ['timestamp', line({ Timestamp: 1566403800 })],
    ['timestamp', line({ Timestamp: 'yesterday' })],
    ['timestamp', line({ Timestamp: '2019-08-21 16:10:00' })],
    ['timestamp', line({ Timestamp: '2019-08-21T16:10:00' })], // no offset
    ['timestamp', line({ Timestamp: '2019-02-29T00:00:00Z' })], // not a leap year
    ['timestamp', line({ Timestamp: '2019-13-01T00:00:00Z' })],
    ['timestamp', line({ Timestamp: '2019-08-21T24:00:00Z' })],
    ['timestamp', line({ Timestamp: '2019-08-21T16:10:60Z' })],
    ['timestamp', line({ Timestamp: '2019-08-21T16:10:00.Z' })],
    ['timestamp', line({ Timestamp: '2019-08-21T16:10:00+2:00' })],
    ['id', line({}, 'absent')],
    ['id', line({}, null)],
    ['id', line({ ID: [1, 2] })],
    ['id', line({ ID: 'x' })],
    ['id', line({}, { SPort: undefined })],
    ['id', line({}, { DstIP: undefined })],
    ['port', line({}, { SPort: '443' })],
    ['port', line({}, { DPort: null })],
    ['address', line({}, { SrcIP: '10.0.0.256' })],
    ['address', line({}, { DstIP: 'example.com' })],
    ['address', line({}, { SrcIP: 12 })],
    ['address', line({}, { SrcIP: '' })],
    ['address', line({}, { SrcIP: 'fe80::1%eth0' })],
    ['address', line({}, { DstIP: '2001:db8::1::2' })],
  ];
  for (const [want, l] of cases) assert.equal(badReason(l), want, l);
  // toolong is only decided by the line splitter (see eventsocket tests), but is a known reason.
  assert.ok(BAD_EVENT_REASONS.includes('toolong'));
  const seen = new Set<string>(cases.map(([r]) => r));
  for (const r of BAD_EVENT_REASONS) if (r !== 'toolong') assert.ok(seen.has(r), `no case for ${r}`);
});

test('BAD_EVENT_REASONS lists each reason once', () => {
  assert.deepEqual(
    [...BAD_EVENT_REASONS].sort(),
    ['address', 'event', 'id', 'json', 'port', 'timestamp', 'toolong', 'unsafe_uuid', 'uuid'],
  );
});

test('timestamps with nanoseconds and offsets', () => {
  const at = (ts: string) => ok(line({ Timestamp: ts })).timestampMs;
  const base = Date.UTC(2019, 7, 21, 16, 10, 0, 500);
  assert.equal(at('2019-08-21T18:10:00.5+02:00'), base);
  assert.equal(at('2019-08-21T16:10:00.5Z'), base);
  assert.equal(at('2019-08-21T16:10:00.500000000Z'), base);
  assert.equal(at('2019-08-21T16:10:00.500999999Z'), base); // truncated, not rounded
  assert.equal(at('2019-08-21T16:10:00.5009999999999Z'), base); // more than 9 digits tolerated
  assert.equal(at('2019-08-21t16:10:00.5z'), base);
  assert.equal(at('2019-08-21T12:40:00.5-03:30'), base);
  assert.equal(at('2019-08-22T01:10:00.5+09:00'), base); // offset crosses midnight
  assert.equal(at('2019-08-21T16:10:00.5-00:00'), base);
  assert.equal(at('2019-08-21T16:10:00Z'), base - 500);
  assert.equal(at('2019-08-21T16:10:00.123456789Z'), base - 377);
  assert.equal(at('2020-02-29T00:00:00Z'), Date.UTC(2020, 1, 29));
  assert.equal(at('2000-02-29T00:00:00Z'), Date.UTC(2000, 1, 29));
  assert.equal(at('1970-01-01T00:00:00Z'), 0);
  assert.equal(at('1969-12-31T23:59:59.999Z'), -1);
  assert.equal(parseRfc3339Ms('0001-01-01T00:00:00Z'), -62135596800000); // Go's zero time
  assert.equal(parseRfc3339Ms('1900-02-29T00:00:00Z'), null);
  // Agrees with Date.parse over a spread of instants.
  for (let t = -1e12; t < 4e12; t += 123456789013) {
    const iso = new Date(t).toISOString();
    assert.equal(parseRfc3339Ms(iso), t, iso);
  }
});

test('ports: huge, out-of-range and fractional numbers are `port`; 0 and 65535 are fine', () => {
  const raw = (sport: string) =>
    `{"Event":0,"Timestamp":"2019-08-21T16:10:00Z","UUID":"u","ID":{"SPort":${sport},"DPort":80,"SrcIP":"10.0.0.1","DstIP":"10.0.0.2"}}`;
  for (const p of ['1e400', '-1e400', '65536', '-1', '1.5', '1e5', 'true', '"80"', '[80]', '{}']) {
    assert.equal(badReason(raw(p)), 'port', p);
  }
  assert.equal(open(raw('0')).srcPort, 0);
  assert.equal(open(raw('65535')).srcPort, 65535);
  assert.equal(open(raw('443.0')).srcPort, 443); // JSON does not tell 443.0 from 443
  assert.equal(badReason(line({}, { DPort: 65536 })), 'port');
});

test('unsafe UUIDs are rejected; a 255-byte UUID is fine', () => {
  for (const u of ['../x', 'a/b', '.', '..', '', '/', 'a\\b', 'a\u0000b', 'a\nb', 'tab\there', 'del\u007f', 'c1\u0085', 'x'.repeat(256), 'é'.repeat(128), '\ud800x']) {
    assert.equal(badReason(line({ UUID: u })), 'unsafe_uuid', JSON.stringify(u));
    assert.equal(isSafeUuid(u), false);
  }
  for (const u of ['x'.repeat(255), 'é'.repeat(127) + 'x', '...', '.hidden', 'a..b', 'host_1566407000_unsafe_000000000001AB2F', 'ü-\u{1F600}']) {
    assert.equal(isSafeUuid(u), true, u);
    assert.equal(ok(line({ UUID: u })).uuid, u);
  }
  assert.equal(Buffer.byteLength('é'.repeat(127) + 'x'), 255);
});

test('cookies: kept when present, exact beyond 2^53, absent or malformed cookies omitted', () => {
  const withCookie = (c: string) =>
    `{"Event":0,"Timestamp":"2019-08-21T16:10:00Z","UUID":"u","ID":{"SPort":1,"DPort":2,"SrcIP":"10.0.0.1","DstIP":"10.0.0.2","Cookie":${c}}}`;
  assert.equal(open(withCookie('0')).cookie, 0n);
  assert.equal(open(withCookie('18446744073709551615')).cookie, 18446744073709551615n);
  assert.equal(open(withCookie('9007199254740993')).cookie, 9007199254740993n);
  assert.equal(open(withCookie('"18446744073709551615"')).cookie, 18446744073709551615n);
  assert.equal(open(withCookie('"0x1AB2F"')).cookie, 0x1ab2fn);
  for (const c of ['-1', '1.5', 'null', '"abc"', '"-5"', '18446744073709551616', '{}']) {
    const e = open(withCookie(c));
    assert.equal(e.cookie, undefined, c);
    assert.ok(!('cookie' in e), c);
  }
  assert.ok(!('cookie' in open(line({}, { Cookie: undefined }))));
});

test('parsing never throws on arbitrary input', () => {
  const samples = [OPEN_LINE, CLOSE_LINE, line({ Event: 1 })];
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 3000; i++) {
    const s = samples[i % samples.length];
    const chars = [...s];
    const n = 1 + Math.floor(rnd() * 4);
    for (let j = 0; j < n; j++) {
      const at = Math.floor(rnd() * chars.length);
      const op = rnd();
      if (op < 0.33) chars.splice(at, 1);
      else if (op < 0.66) chars[at] = String.fromCharCode(Math.floor(rnd() * 128));
      else chars.splice(at, 0, '9');
    }
    const r = parseEventLine(chars.join(''));
    if (!r.ok) assert.ok(BAD_EVENT_REASONS.includes(r.reason));
  }
});
