// A flow key names a TCP flow independently of direction, as nine 32-bit words:
//   [0..3]  endpoint A's address, [4..7] endpoint B's address, [8] portA<<16 | portB.
// IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d), so an IPv4 flow and
// an event that names it with mapped IPv6 addresses get the same key.
// A is the lesser (address, port) endpoint, so both directions of a flow give
// the same words. Keys are compared word by word and hashed to a 32-bit number:
// no string is built per packet.
import { isIP } from 'node:net';

export const KEY_WORDS = 9;
export type FlowKey = Int32Array;

export function newFlowKey(): FlowKey {
  return new Int32Array(KEY_WORDS);
}

/** Orders two endpoints given as (address words, port); negative when the first is lesser. */
function compareEndpoints(w: ArrayLike<number>, a: number, portA: number, b: number, portB: number): number {
  for (let i = 0; i < 4; i++) {
    const x = w[a + i] >>> 0;
    const y = w[b + i] >>> 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return portA - portB;
}

/**
 * Fills `out` from source and destination given as 16-byte-address words in
 * `scratch` (src at 0..3, dst at 4..7) and returns true when the packet's
 * source became endpoint B (the packet travels B→A).
 */
export function canonicalize(scratch: Int32Array, srcPort: number, dstPort: number, out: FlowKey): boolean {
  const swapped = compareEndpoints(scratch, 0, srcPort, 4, dstPort) > 0;
  if (!swapped) {
    for (let i = 0; i < 8; i++) out[i] = scratch[i];
    out[8] = ((srcPort << 16) | dstPort) | 0;
  } else {
    for (let i = 0; i < 4; i++) {
      out[i] = scratch[i + 4];
      out[i + 4] = scratch[i];
    }
    out[8] = ((dstPort << 16) | srcPort) | 0;
  }
  return swapped;
}

/**
 * A 30-bit hash of the key: small integers stay unboxed in V8 (as Map keys
 * and array elements), so looking a flow up allocates nothing.
 * native/decode.cc computes the same.
 */
export function hashFlowKey(k: FlowKey): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < KEY_WORDS; i++) {
    h = Math.imul(h ^ k[i], 0x01000193);
    h ^= h >>> 15;
  }
  return h & 0x3fffffff;
}

export function flowKeysEqual(a: FlowKey, b: FlowKey): boolean {
  for (let i = 0; i < KEY_WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isIPv4Key(k: FlowKey, endpoint: 0 | 1): boolean {
  const o = endpoint * 4;
  return k[o] === 0 && k[o + 1] === 0 && k[o + 2] === 0xffff;
}

/** Parses a textual IPv4 or IPv6 address into four words; false when it is not an address. */
export function parseAddressWords(text: string, out: Int32Array, offset: number): boolean {
  const family = isIP(text);
  if (family === 4) {
    out[offset] = 0;
    out[offset + 1] = 0;
    out[offset + 2] = 0xffff;
    out[offset + 3] = ipv4Word(text);
    return true;
  }
  if (family !== 6) return false;
  const groups = ipv6Groups(text);
  if (groups === null) return false;
  for (let i = 0; i < 4; i++) out[offset + i] = ((groups[2 * i] << 16) | groups[2 * i + 1]) | 0;
  return true;
}

function ipv4Word(text: string): number {
  const p = text.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) | 0;
}

/** Eight 16-bit groups of an address that net.isIP already accepted as IPv6. */
function ipv6Groups(text: string): number[] | null {
  if (text.includes('%')) return null; // zone ids do not name a flow
  let body = text;
  const lastColon = body.lastIndexOf(':');
  if (body.includes('.', lastColon)) {
    // Rewrite an embedded IPv4 tail (::ffff:1.2.3.4) as two hex groups.
    const w = ipv4Word(body.slice(lastColon + 1)) >>> 0;
    body = `${body.slice(0, lastColon + 1)}${(w >>> 16).toString(16)}:${(w & 0xffff).toString(16)}`;
  }
  const halves = body.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]);
  const rest = halves.length > 1 ? parse(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  return [...head, ...new Array<number>(fill).fill(0), ...rest];
}

/** Sets the key for a 4-tuple given as text; false when an address is malformed. */
export function flowKeyFromText(srcIP: string, srcPort: number, dstIP: string, dstPort: number, out: FlowKey): boolean {
  const scratch = new Int32Array(8);
  if (!parseAddressWords(srcIP, scratch, 0) || !parseAddressWords(dstIP, scratch, 4)) return false;
  canonicalize(scratch, srcPort, dstPort, out);
  return true;
}

export function addressText(k: FlowKey, endpoint: 0 | 1): string {
  const o = endpoint * 4;
  if (isIPv4Key(k, endpoint)) {
    const w = k[o + 3] >>> 0;
    return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) {
    const w = k[o + i] >>> 0;
    groups.push((w >>> 16).toString(16), (w & 0xffff).toString(16));
  }
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

export function portOf(k: FlowKey, endpoint: 0 | 1): number {
  return endpoint === 0 ? k[8] >>> 16 : k[8] & 0xffff;
}
