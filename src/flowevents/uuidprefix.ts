// UUIDs the way M-Lab's tools make them (m-lab/uuid): `<prefix>_<cookie>`,
// the cookie as 16 upper-case hex digits. The prefix comes from
// -uuid-prefix-file, or else is `<$POD_NAME or hostname>_<boot time>_unsafe`,
// the boot time in whole unix seconds (now minus /proc/uptime, integer part).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { errorWords, PacketHeadersError } from '../errors.js';

/** Where the prefix comes from; injected so tests are deterministic. */
export interface PrefixSources {
  readFile(path: string): string;
  env: Record<string, string | undefined>;
  hostname(): string;
  /** Contents of /proc/uptime ("seconds-up idle-seconds"). */
  readUptime(): string;
  /** Epoch milliseconds. */
  nowMs(): number;
}

export const systemPrefixSources: PrefixSources = {
  readFile: (path) => readFileSync(path, 'utf8'),
  env: process.env,
  hostname,
  readUptime: () => readFileSync('/proc/uptime', 'utf8'),
  nowMs: Date.now,
};

/** `_` and 16 hex digits follow the prefix; a UUID must fit in one 255-byte file name with `.pcap.gz`. */
const MAX_PREFIX_BYTES = 255 - '_0000000000000000.pcap.gz'.length;

/**
 * The UUID prefix, computed once at start. Throws PacketHeadersError
 * ('PH_ERR_FLAG') for an unreadable or empty prefix file, and for a prefix
 * that cannot be part of a file name.
 */
export function uuidPrefix(prefixFile: string, sources: PrefixSources = systemPrefixSources): string {
  if (prefixFile !== '') {
    let text: string;
    try {
      text = sources.readFile(prefixFile);
    } catch (error) {
      throw new PacketHeadersError('PH_ERR_FLAG', `cannot read -uuid-prefix-file "${prefixFile}": ${errorWords(error)}`);
    }
    const prefix = text.trim();
    if (prefix === '') throw new PacketHeadersError('PH_ERR_FLAG', `-uuid-prefix-file "${prefixFile}" is empty`);
    return checked(prefix, `-uuid-prefix-file "${prefixFile}"`);
  }
  const podName = sources.env.POD_NAME ?? '';
  const host = podName !== '' ? podName : sources.hostname();
  const uptime = Number.parseFloat(sources.readUptime());
  if (!Number.isFinite(uptime) || uptime < 0) {
    throw new PacketHeadersError('PH_ERR_FLAG', 'cannot read the boot time from /proc/uptime; give -uuid-prefix-file');
  }
  const bootSeconds = Math.floor(sources.nowMs() / 1000 - uptime);
  return checked(`${host}_${bootSeconds}_unsafe`, podName !== '' ? '$POD_NAME' : 'the host name');
}

function checked(prefix: string, origin: string): string {
  if (/[/\0\n\r]/.test(prefix)) {
    throw new PacketHeadersError('PH_ERR_FLAG', `the UUID prefix from ${origin} contains "/", NUL or a line break`);
  }
  if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) {
    throw new PacketHeadersError('PH_ERR_FLAG', `the UUID prefix from ${origin} is longer than ${MAX_PREFIX_BYTES} bytes`);
  }
  return prefix;
}

const HEX = '0123456789ABCDEF';

/** `<prefix>_<cookie as %016X>` from the cookie's two 32-bit halves. */
export function uuidFromCookie(prefix: string, cookieLow: number, cookieHigh: number): string {
  return `${prefix}_${cookieText(cookieLow, cookieHigh)}`;
}

/** The cookie as %016X, as UUIDs end. */
export function cookieText(cookieLow: number, cookieHigh: number): string {
  return `${hex8(cookieHigh)}${hex8(cookieLow)}`;
}

const COOKIE_UUID = /^(.+)_([0-9A-F]{16})$/;

/** The %016X cookie a `<prefix>_<cookie>` UUID ends with, or null for a UUID of another form. */
export function cookieOfUuid(uuid: string): string | null {
  return COOKIE_UUID.exec(uuid)?.[2] ?? null;
}

/** The `<prefix>` of a `<prefix>_<cookie>` UUID, or null for a UUID of another form. */
export function prefixOfUuid(uuid: string): string | null {
  return COOKIE_UUID.exec(uuid)?.[1] ?? null;
}

function hex8(word: number): string {
  let out = '';
  for (let shift = 28; shift >= 0; shift -= 4) out += HEX[(word >>> shift) & 15];
  return out;
}
