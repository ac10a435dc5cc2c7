// Parses one line of tcp-info's eventsocket protocol (newline-delimited JSON):
//   {"Event":0,"Timestamp":"2019-08-21T16:10:00.123456789Z","UUID":"...",
//    "ID":{"SPort":443,"DPort":48072,"SrcIP":"2001:db8::86","DstIP":"2001:db8:1::9","Interface":0,"Cookie":109359}}
// Event 0 is Open, 1 is Close. Pure: never throws, reports a stable reason for a bad line.
import { flowKeyFromText, newFlowKey, type FlowKey } from '../decode/flowkey.js';
import type { BadEventReason, FlowEvent, ParseResult } from './types.js';

const EVENT_OPEN = 0;
const EVENT_CLOSE = 1;

/** Longest UUID, in UTF-8 bytes, that can name a file (NAME_MAX). */
const MAX_UUID_BYTES = 255;

// C0 controls, DEL, C1 controls, '/', '\'. NUL is a C0 control.
const UNSAFE_UUID_CHARS = /[\u0000-\u001f\u007f-\u009f/\\]/;
// A lone surrogate would be written to disk as U+FFFD: a different name than the UUID.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `uuid` can be used as one path component: not empty, not `.` or
 * `..`, no `/`, `\`, NUL or other control character, no lone surrogate, and at
 * most 255 bytes of UTF-8.
 */
export function isSafeUuid(uuid: string): boolean {
  if (typeof uuid !== 'string' || uuid.length === 0 || uuid === '.' || uuid === '..') return false;
  // Every UTF-16 unit takes at least one UTF-8 byte: a cheap early reject.
  if (uuid.length > MAX_UUID_BYTES) return false;
  if (UNSAFE_UUID_CHARS.test(uuid) || LONE_SURROGATE.test(uuid)) return false;
  return Buffer.byteLength(uuid, 'utf8') <= MAX_UUID_BYTES;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (no two-digit-year surprises, unlike Date.UTC). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Parses an RFC 3339 timestamp (any fraction length, truncated to the
 * millisecond; `Z` or a numeric offset) into epoch milliseconds; null when it is
 * malformed or names an impossible date or time.
 */
export function parseRfc3339Ms(text: string): number | null {
  const m = RFC3339.exec(text);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null; // like Go's time.Parse, no leap second
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  let offsetMinutes = 0;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (m[8] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const days = daysFromCivil(year, month, day);
  return ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1000 + millis;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
}

const MAX_COOKIE = (1n << 64n) - 1n;
const COOKIE_IN_LINE = /"Cookie"\s*:\s*(\d+)/g;

/**
 * The socket cookie, or undefined when absent or malformed (a cookie is only
 * informative, so it never rejects an event). A cookie beyond 2^53 has lost
 * digits in JSON.parse; its exact digits are then read back from the line when
 * the line holds exactly one such field that agrees with the parsed value.
 */
function cookieOf(v: unknown, line: string): bigint | undefined {
  let c: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) return undefined;
    c = BigInt(v);
    if (!Number.isSafeInteger(v)) {
      const matches = [...line.matchAll(COOKIE_IN_LINE)];
      if (matches.length === 1) {
        const exact = BigInt(matches[0][1]);
        if (Number(exact) === v) c = exact;
      }
    }
  } else if (typeof v === 'string') {
    if (!/^(?:\d+|0[xX][0-9a-fA-F]+)$/.test(v) || v.length > 40) return undefined;
    c = BigInt(v);
  } else {
    return undefined;
  }
  return c <= MAX_COOKIE ? c : undefined;
}

type Tuple = { key: FlowKey; srcIP: string; srcPort: number; dstIP: string; dstPort: number };

/** The flow named by an event's ID object, or the reason it names none. */
function tupleOf(id: unknown): Tuple | BadEventReason {
  if (typeof id !== 'object' || id === null || Array.isArray(id)) return 'id';
  const o = id as Record<string, unknown>;
  const { SPort, DPort, SrcIP, DstIP } = o;
  if (SPort === undefined || DPort === undefined || SrcIP === undefined || DstIP === undefined) return 'id';
  if (!isPort(SPort) || !isPort(DPort)) return 'port';
  if (typeof SrcIP !== 'string' || typeof DstIP !== 'string') return 'address';
  const key = newFlowKey();
  if (!flowKeyFromText(SrcIP, SPort, DstIP, DPort, key)) return 'address';
  return { key, srcIP: SrcIP, srcPort: SPort, dstIP: DstIP, dstPort: DPort };
}

function bad(reason: BadEventReason): ParseResult {
  return { ok: false, reason };
}

/**
 * Parses one event line (without its newline). Checks run in the order
 * json, event, uuid, unsafe_uuid, timestamp, then for an Open id, port,
 * address; the first failure is the reason. A Close with a missing, null or
 * malformed ID is still a Close, with a null key.
 */
export function parseEventLine(line: string): ParseResult {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return bad('json');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('json');
  const o = v as Record<string, unknown>;

  const kind = o.Event;
  if (kind !== EVENT_OPEN && kind !== EVENT_CLOSE) return bad('event');

  const uuid = o.UUID;
  if (typeof uuid !== 'string') return bad('uuid');
  if (!isSafeUuid(uuid)) return bad('unsafe_uuid');

  const ts = o.Timestamp;
  if (typeof ts !== 'string') return bad('timestamp');
  const timestampMs = parseRfc3339Ms(ts);
  if (timestampMs === null) return bad('timestamp');

  let event: FlowEvent;
  if (kind === EVENT_OPEN) {
    const t = tupleOf(o.ID);
    if (typeof t === 'string') return bad(t);
    event = { kind: 'open', uuid, timestampMs, ...t };
    const cookie = cookieOf((o.ID as Record<string, unknown>).Cookie, line);
    if (cookie !== undefined) event.cookie = cookie;
  } else {
    const t = o.ID === undefined || o.ID === null ? null : tupleOf(o.ID);
    event = { kind: 'close', uuid, timestampMs, key: t === null || typeof t === 'string' ? null : t.key };
  }
  return { ok: true, event };
}
