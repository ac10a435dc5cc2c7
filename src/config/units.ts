// Go-compatible text forms of the two unit-bearing flag types: durations
// (Go's time.ParseDuration / Duration.String) and byte sizes (M-Lab's
// bytecount: an integer with an optional B/K/KB/M/MB/G/GB/T/TB unit, powers of
// 1000). Pure functions; a parse failure throws a RangeError whose message is
// the short reason that the flag layer appends to its one-line error.

const NS_PER_MS = 1_000_000n;

/** Nanoseconds per duration unit, exactly as Go's time package spells them. */
const DURATION_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // µ MICRO SIGN
  ['\u03bcs', 1_000n], // μ GREEK SMALL LETTER MU
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

/** Go durations are int64 nanoseconds; anything larger is out of range there too. */
const MAX_DURATION_NS = (1n << 63n) - 1n;

/**
 * Parses a Go duration (`300ms`, `5s`, `1m30s`, `1.5h`, `0`) into
 * milliseconds, possibly fractional (`1us` → 0.001). Like Go it accepts a
 * leading sign, so `-1s` → -1000: rejecting negative values is the caller's
 * business. Throws RangeError on anything Go's time.ParseDuration rejects.
 */
export function parseDuration(text: string): number {
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new RangeError('bad duration: empty');

  // Each segment: digits, optional fraction, then a unit made of anything that
  // is neither a digit nor a dot (Go's rule; the unit is then looked up).
  const segment = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]*)/;
  let totalNs = 0n;
  while (rest !== '') {
    const m = segment.exec(rest);
    const whole = m?.[1] ?? '';
    const fraction = m?.[2] ?? '';
    const unitText = m?.[3] ?? '';
    if (m === null || (whole === '' && fraction === '')) {
      throw new RangeError('bad duration: expected a number');
    }
    if (unitText === '') {
      throw new RangeError('bad duration: missing unit (use ns, us, ms, s, m or h)');
    }
    const unit = DURATION_UNITS.get(unitText);
    if (unit === undefined) {
      throw new RangeError(`bad duration: unknown unit ${quote(unitText)} (use ns, us, ms, s, m or h)`);
    }
    let ns = BigInt(whole === '' ? '0' : whole) * unit;
    if (fraction !== '') {
      // Exact; sub-nanosecond remainders are dropped, as in Go.
      ns += (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length);
    }
    totalNs += ns;
    if (totalNs > MAX_DURATION_NS) throw new RangeError('bad duration: out of range');
    rest = rest.slice(m[0].length);
  }
  const ms = Number(totalNs / NS_PER_MS) + Number(totalNs % NS_PER_MS) / 1e6;
  return negative && ms !== 0 ? -ms : ms;
}

/**
 * Formats milliseconds the way Go's Duration.String does: `30s`, `1m30s`,
 * `1h0m0s`, `100ms`, `1.5s`, `250µs`, `0s`. Sub-nanosecond digits are rounded.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format duration ${ms}`);
  const negative = ms < 0;
  let ns = BigInt(Math.round(Math.abs(ms) * 1e6));
  const sign = negative && ns !== 0n ? '-' : '';
  if (ns === 0n) return '0s';
  if (ns < 1_000_000_000n) {
    if (ns < 1_000n) return `${sign}${ns}ns`;
    if (ns < 1_000_000n) return `${sign}${withFraction(ns, 3)}\u00b5s`;
    return `${sign}${withFraction(ns, 6)}ms`;
  }
  const seconds = withFraction(ns % 60_000_000_000n, 9);
  ns /= 60_000_000_000n; // now whole minutes
  if (ns === 0n) return `${sign}${seconds}s`;
  const minutes = ns % 60n;
  const hours = ns / 60n;
  if (hours === 0n) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${hours}h${minutes}m${seconds}s`;
}

/** `value / 10^digits` printed with its fraction, trailing zeros (and a bare dot) dropped. */
function withFraction(value: bigint, digits: number): string {
  const scale = 10n ** BigInt(digits);
  const fraction = (value % scale).toString().padStart(digits, '0').replace(/0+$/, '');
  return fraction === '' ? `${value / scale}` : `${value / scale}.${fraction}`;
}

/** Bytes per size unit (case-insensitive), powers of 1000. */
const SIZE_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ['b', 1n],
  ['k', 1_000n],
  ['kb', 1_000n],
  ['m', 1_000_000n],
  ['mb', 1_000_000n],
  ['g', 1_000_000_000n],
  ['gb', 1_000_000_000n],
  ['t', 1_000_000_000_000n],
  ['tb', 1_000_000_000_000n],
]);

/**
 * Parses a byte size: a non-negative integer or decimal with an optional unit
 * (`100`, `100B`, `1K`, `256MB`, `1.5G`, `3gb`, `2TB`), powers of 1000. The
 * result must be a whole number of bytes (`1.5B` is rejected) and a safe
 * integer. Throws RangeError otherwise.
 */
export function parseByteSize(text: string): number {
  const m = /^([0-9]+)?(?:\.([0-9]*))?([A-Za-z]*)$/.exec(text);
  const whole = m?.[1] ?? '';
  const fraction = m?.[2] ?? '';
  if (m === null || (whole === '' && fraction === '')) {
    throw new RangeError('bad size: expected a number with an optional unit B, KB, MB, GB or TB');
  }
  const unit = SIZE_UNITS.get((m[3] ?? '').toLowerCase());
  if (unit === undefined) {
    throw new RangeError(`bad size: unknown unit ${quote(m[3] ?? '')} (use B, K/KB, M/MB, G/GB or T/TB)`);
  }
  let bytes = BigInt(whole === '' ? '0' : whole) * unit;
  if (fraction !== '') {
    const scale = 10n ** BigInt(fraction.length);
    const scaled = BigInt(fraction) * unit;
    if (scaled % scale !== 0n) throw new RangeError('bad size: not a whole number of bytes');
    bytes += scaled / scale;
  }
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('bad size: too large');
  return Number(bytes);
}

/**
 * Formats bytes with the largest unit that divides them exactly: 3e9 → `3GB`,
 * 256e6 → `256MB`, 1500 → `1500B`, 0 → `0B`.
 */
export function formatByteSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`cannot format byte size ${bytes}`);
  if (bytes === 0) return '0B';
  for (const [suffix, size] of [
    ['TB', 1e12],
    ['GB', 1e9],
    ['MB', 1e6],
    ['KB', 1e3],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  return `${bytes}B`;
}

/** A value quoted for a one-line message: JSON escapes keep control characters visible. */
export function quote(text: string): string {
  return JSON.stringify(text);
}
