// The built-in flow source: names flows from the kernel's own TCP socket
// table (netlink socket diagnostics, native/sockdiag.cc) with the UUID that
// M-Lab's tools give the same socket, `<prefix>_<cookie as %016X>`.
//
// Three ways in, because short connections come and go between two polls:
//  - a poll of the whole table every -socketpoll (sockets that exist at
//    start, long-lived ones, anything the others missed);
//  - the kernel's socket-destroy reports (a socket that lived 1 ms between two
//    polls is still reported when it is freed, with its 4-tuple and cookie);
//  - an exact lookup of a 4-tuple when the demuxer sees a new flow it cannot
//    name, retried a few times because the first packet (the SYN) is captured
//    before the kernel has a socket for it.
// Each socket is announced once, with the Open event the eventsocket client
// would produce. Only full sockets name flows: a request socket (SYN_RECV) or
// a TIME_WAIT socket carries the full socket's cookie only when that cookie
// was made before the mini-socket was (the kernel copies it from one to the
// other), so otherwise its cookie is one no application ever saw, and naming
// a flow with it splits the connection over two files. A time-wait socket is
// known by its timer, not its state: one made from a closed socket whose peer
// has not sent its FIN yet is reported in FIN_WAIT2, like a full socket.
// Sockets are remembered by cookie until a poll no longer finds them, so
// memory follows the size of the table.
import type { NativeAddon, NativeSocketWatch } from '../native/addon.js';
import { SOCKET_QUERY_BYTES, SOCKET_RECORD_BYTES } from '../native/layout.js';
import { addressText, canonicalize, flowKeysEqual, hashFlowKey, newFlowKey, portOf, type FlowKey } from '../decode/flowkey.js';
import { endianness } from 'node:os';
import type { Log } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EmitFlowEvent, FlowSource, UnnamedFlow } from './flowsource.js';
import type { FlowOpenEvent } from './types.js';
import { cookieText, uuidFromCookie } from './uuidprefix.js';

/** When an unnamed flow's 4-tuple is looked up, in ms after the demuxer asked. */
export const LOOKUP_DELAYS_MS: readonly number[] = [0, 1, 5, 20, 100];
/**
 * Further tries while the lookup finds only the request socket: the accepted
 * socket comes once the handshake's ACK is taken, which waits for room in a
 * full accept queue (then for the client's retransmission). The poll and the
 * destroy reports name what these miss.
 */
export const REQUEST_SOCKET_DELAYS_MS: readonly number[] = [300, 1000, 3000];
/**
 * The poll's period while the kernel sends no socket-destroy reports (the
 * watch could not start): then the poll is the only way to name a connection
 * that its lookups missed, and short ones come and go between two polls.
 */
export const POLL_WITHOUT_REPORTS_MS = 100;
/**
 * How long the time-wait sockets found at start are remembered: a connection
 * whose socket became one before this run (the server closed first) names its
 * last packets from it (nameStartupSocket). TIME_WAIT and an orphaned
 * FIN_WAIT2 last 60 s at most by default.
 */
const STARTUP_TIME_WAIT_MS = 120_000;
/** Flows waiting for a lookup at once; more are left to the poll (and counted as misses). */
const MAX_PENDING_LOOKUPS = 4096;
/** Queries per native call. */
const MAX_LOOKUP_BATCH = 512;
const TCP_SYN_RECV = 3; // inet_diag's state for request sockets (TCP_NEW_SYN_RECV)
const TCP_TIME_WAIT = 6;
const TCP_LISTEN = 10;
const TIMER_TIME_WAIT = 3; // inet_diag's timer of every time-wait socket (states TIME_WAIT and FIN_WAIT2)
const WORDS_PER_RECORD = SOCKET_RECORD_BYTES / 4;
const LITTLE_ENDIAN = endianness() === 'LE';

/** The records as 32-bit words (little-endian fields), without a copy when the platform allows. */
function recordWords(records: Buffer): Uint32Array {
  const count = Math.floor(records.length / SOCKET_RECORD_BYTES) * WORDS_PER_RECORD;
  if (LITTLE_ENDIAN && records.byteOffset % 4 === 0) return new Uint32Array(records.buffer, records.byteOffset, count);
  const words = new Uint32Array(count);
  for (let i = 0; i < count; i++) words[i] = records.readUInt32LE(4 * i);
  return words;
}

/** When a poll last saw a socket; an object, so a poll updates it without a second hash lookup. */
interface Seen {
  generation: number;
}

/**
 * A cookie as a map key: the number high * 2^32 + low, exact while high <
 * 2^21 (the kernel counts cookies up from 1, so always in practice); a string
 * beyond that.
 */
function cookieOf(low: number, high: number): number | string {
  return high === 0 ? low : high < 0x200000 ? high * 0x1_0000_0000 + low : `${high}:${low}`;
}

export type AnnounceHow = 'poll' | 'destroyed' | 'lookup';

export interface KernelSourceOptions {
  /** UUID prefix (see uuidprefix.ts); setPrefix() changes it. */
  prefix: string;
  /**
   * Beside tcp-info: name only connections that existed before this run
   * started, when the demuxer asks (tcp-info announced them to the earlier
   * run and will not again), and nothing else; no poll after the first, no
   * destroy reports, no retries.
   */
  existingOnly?: boolean;
  /**
   * Cookies (%016X) of the connections the run before this one named and
   * remembered at its stop (src/saver/staging.ts): of the time-wait sockets
   * found at start, only theirs name flows, since only theirs are known to
   * carry a cookie an application saw.
   */
  namedBefore?: ReadonlySet<string>;
  /** Period of the full-table poll, ms. */
  pollMs: number;
  addon: Pick<NativeAddon, 'sockDiagDump' | 'sockDiagLookup' | 'SocketWatch'>;
  metrics: Metrics;
  log: Log;
  /** Epoch ms, for event timestamps. */
  wallClock?: () => number;
}

interface PendingLookup {
  key: FlowKey;
  hash: number;
  /** performance.now() when the demuxer asked. */
  askedAt: number;
  /** Index of the next attempt into LOOKUP_DELAYS_MS, then REQUEST_SOCKET_DELAYS_MS. */
  attempt: number;
  /** A try found the request socket: the tries go on into REQUEST_SOCKET_DELAYS_MS. */
  sawRequest: boolean;
  inFlight: boolean;
  /** Announced another way while a try was in flight. */
  settled: boolean;
}

/** A record's TCP state, with every time-wait socket (FIN_WAIT2 ones too) as TIME_WAIT. */
function stateOf(words: Uint32Array, w: number): number {
  const stateWord = words[w + 3]; // state | family << 8 | timer << 16
  return ((stateWord >>> 16) & 0xff) === TIMER_TIME_WAIT ? TCP_TIME_WAIT : stateWord & 0xff;
}

function delayOf(entry: PendingLookup): number | undefined {
  const n = LOOKUP_DELAYS_MS.length;
  if (entry.attempt < n) return LOOKUP_DELAYS_MS[entry.attempt];
  return entry.sawRequest ? REQUEST_SOCKET_DELAYS_MS[entry.attempt - n] : undefined;
}

export class KernelFlowSource implements FlowSource {
  private readonly options: KernelSourceOptions;
  private emit: EmitFlowEvent = () => {};
  private readonly wallClock: () => number;
  /**
   * Sockets announced, by cookie, with the generation (poll number) that last
   * saw them. The cookie is the number high * 2^32 + low, exact while high <
   * 2^21 (the kernel counts cookies up from 1, so always in practice); a
   * string beyond that.
   */
  private readonly known = new Map<number | string, Seen>();
  private generation = 0;
  private readonly pending = new Map<number, PendingLookup[]>();
  private pendingCount = 0;
  private lookupRunning = false;
  private lookupTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private pollAgain = false;
  private watch: NativeSocketWatch | null = null;
  private stopped = false;
  private lastError = '';
  private readonly scratch = new Int32Array(8);
  /** Until the first poll is done: every socket found existed before this run (FlowOpenEvent.continued). */
  private startingUp = true;
  /**
   * Sockets the first poll found that it did not announce, by the hash of
   * their flow key, until one names a flow: the time-wait sockets (for
   * STARTUP_TIME_WAIT_MS; see nameStartupSocket), and with existingOnly every
   * socket. Matched here rather than looked up in the kernel: an exact
   * lookup of an established socket has been seen to answer with its
   * listener for 100 ms and more right after a restart.
   */
  private readonly startupSockets = new Map<number, Array<{ key: FlowKey; record: Buffer }>>();
  private prefix: string;
  /** -socketpoll, or shorter without destroy reports. */
  private pollMs: number;

  constructor(options: KernelSourceOptions) {
    this.options = options;
    this.pollMs = options.pollMs;
    this.prefix = options.prefix;
    this.wallClock = options.wallClock ?? Date.now;
    for (const how of ['poll', 'destroyed', 'lookup'] as const) options.metrics.kernelUuids.labels(how).inc(0);
  }

  /** Sockets remembered now. */
  get size(): number {
    return this.known.size;
  }

  /**
   * Starts watching destroyed sockets, then polls the table once (so sockets
   * that exist already are announced before this resolves) and keeps polling.
   */
  async start(emit: EmitFlowEvent): Promise<void> {
    this.emit = emit;
    if (this.options.existingOnly === true) {
      await this.pollOnce();
      this.startingUp = false;
      this.options.log(
        `naming the connections that existed before this run from the kernel's socket table when their packets come (UUID prefix "${this.prefix}" until tcp-info's UUIDs show theirs)`,
      );
      return;
    }
    try {
      const watch = new this.options.addon.SocketWatch();
      watch.start((records, overruns) => this.onDestroyed(records, overruns));
      this.watch = watch;
    } catch (error) {
      this.pollMs = Math.min(this.pollMs, POLL_WITHOUT_REPORTS_MS);
      this.options.log(
        `kernel flow source: no socket-destroy reports (${(error as Error).message}); polling the socket table every ${this.pollMs} ms, short connections may be missed`,
      );
    }
    await this.poll();
    this.startingUp = false;
    setTimeout(() => this.startupSockets.clear(), STARTUP_TIME_WAIT_MS).unref();
    this.options.log(`naming flows from the kernel's socket table (UUID prefix "${this.prefix}", ${this.size} sockets now)`);
  }

  /** The prefix of the UUIDs made from now on (existingOnly: the one tcp-info's UUIDs show). */
  setPrefix(prefix: string): void {
    this.prefix = prefix;
  }

  /** Names the flow once its 4-tuple is found (lookup); never at once. */
  nameFlow(flow: UnnamedFlow): null {
    this.lookup(flow.key, flow.opening);
    return null;
  }

  /**
   * A new flow without a name (`opening`: its first packet is a
   * connection-opening SYN): look its 4-tuple up (a few times).
   */
  lookup(key: FlowKey, opening = false): void {
    if (this.stopped) return;
    if (!opening && this.startupSockets.size > 0 && this.nameStartupSocket(key)) return;
    // existingOnly: a connection that starts now is tcp-info's to name.
    if (this.options.existingOnly === true) return;
    if (this.pendingCount >= MAX_PENDING_LOOKUPS) {
      this.options.metrics.kernelLookupMisses.inc();
      return;
    }
    const hash = hashFlowKey(key);
    const entry: PendingLookup = {
      key: new Int32Array(key),
      hash,
      askedAt: performance.now(),
      attempt: 0,
      sawRequest: false,
      inFlight: false,
      settled: false,
    };
    const list = this.pending.get(hash);
    if (list === undefined) this.pending.set(hash, [entry]);
    else list.push(entry);
    this.pendingCount++;
    this.runLookups();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    this.watch = null;
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    if (this.lookupTimer !== null) clearTimeout(this.lookupTimer);
    this.pending.clear();
    this.pendingCount = 0;
    await this.polling;
  }

  // ------------------------------------------------------------------ poll

  /** Runs a poll now, or right after the one in flight. */
  private poll(): Promise<void> {
    if (this.polling !== null) {
      this.pollAgain = true;
      return this.polling;
    }
    if (this.pollTimer !== null) {
      clearTimeout(this.pollTimer);
      this.pollTimer = null;
    }
    this.polling = this.pollOnce().finally(() => {
      this.polling = null;
      if (this.stopped) return;
      if (this.pollAgain) {
        this.pollAgain = false;
        void this.poll();
      } else {
        this.pollTimer = setTimeout(() => void this.poll(), this.pollMs);
        this.pollTimer.unref();
      }
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const { metrics } = this.options;
    const generation = ++this.generation;
    const started = performance.now();
    let records: Buffer;
    try {
      records = await this.options.addon.sockDiagDump();
    } catch (error) {
      metrics.kernelErrors.labels('poll').inc();
      this.reportError(`kernel flow source: socket table poll failed: ${(error as Error).message}`);
      return;
    }
    if (this.stopped) return;
    // The diff of a big table is the costly part (100k sockets: ~4 ms), so it
    // reads words from the records and does one hash lookup per socket.
    const words = recordWords(records);
    let sockets = 0;
    for (let w = 0; w < words.length; w += WORDS_PER_RECORD) {
      if (this.consider(words, w, records, 'poll', generation)) sockets++;
    }
    // Forget what this poll did not find: those sockets are gone.
    const known = this.known;
    known.forEach((seen, cookie) => {
      if (seen.generation < generation) known.delete(cookie);
    });
    metrics.kernelSockets.set(sockets);
    metrics.kernelPollDuration.observe((performance.now() - started) / 1000);
  }

  // ------------------------------------------------------------------ destroy reports

  private onDestroyed(records: Buffer, overruns: number): void {
    if (this.stopped) return;
    const words = recordWords(records);
    for (let w = 0; w < words.length; w += WORDS_PER_RECORD) this.consider(words, w, records, 'destroyed', this.generation);
    if (overruns > 0) {
      // Reports were lost: the sockets may still be in the table (TIME_WAIT) for a poll to find.
      this.options.metrics.kernelErrors.labels('overrun').inc(overruns);
      void this.poll();
    }
  }

  // ------------------------------------------------------------------ exact lookups

  private runLookups(): void {
    if (this.lookupRunning || this.stopped || this.pendingCount === 0) return;
    const now = performance.now();
    const batch: PendingLookup[] = [];
    let nextDue = Infinity;
    for (const list of this.pending.values()) {
      for (const entry of list) {
        if (entry.inFlight) continue;
        const due = entry.askedAt + (delayOf(entry) ?? 0);
        if (due <= now && batch.length < MAX_LOOKUP_BATCH) batch.push(entry);
        else nextDue = Math.min(nextDue, due);
      }
    }
    if (batch.length === 0) {
      if (nextDue !== Infinity && this.lookupTimer === null) {
        this.lookupTimer = setTimeout(() => {
          this.lookupTimer = null;
          this.runLookups();
        }, Math.max(1, Math.ceil(nextDue - now)));
        this.lookupTimer.unref();
      }
      return;
    }
    const queries = Buffer.allocUnsafe(batch.length * SOCKET_QUERY_BYTES);
    for (let i = 0; i < batch.length; i++) {
      const { key } = batch[i];
      const q = i * SOCKET_QUERY_BYTES;
      for (let w = 0; w < 8; w++) queries.writeInt32BE(key[w], q + 4 * w);
      queries.writeUInt16LE(portOf(key, 0), q + 32);
      queries.writeUInt16LE(portOf(key, 1), q + 34);
      batch[i].inFlight = true;
    }
    this.lookupRunning = true;
    this.options.metrics.kernelLookups.inc(batch.length);
    this.options.addon.sockDiagLookup(queries).then(
      (records) => this.lookupsDone(batch, records),
      (error: unknown) => {
        this.options.metrics.kernelErrors.labels('lookup').inc();
        this.reportError(`kernel flow source: socket lookup failed: ${(error as Error).message}`);
        this.lookupsDone(batch, null);
      },
    );
  }

  private lookupsDone(batch: PendingLookup[], records: Buffer | null): void {
    this.lookupRunning = false;
    if (this.stopped) return;
    const words = records === null ? null : recordWords(records);

    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i];
      entry.inFlight = false;
      const w = i * WORDS_PER_RECORD;
      if (entry.settled) continue; // already removed
      const found = records !== null && words !== null && w < words.length && records[i * SOCKET_RECORD_BYTES + 13] !== 0;
      const state = found ? stateOf(words!, w) : -1;
      if (found && state !== TCP_SYN_RECV && state !== TCP_TIME_WAIT) {
        this.removePending(entry);
        this.consider(words!, w, records!, 'lookup', this.generation);
        continue;
      }
      if (found && this.isKnown(words!, w)) {
        // A mini-socket of a socket announced already: its flow is named.
        this.removePending(entry);
        continue;
      }

      // A TIME_WAIT socket means the full socket is gone: its destroy report names the flow.
      if (state === TCP_SYN_RECV) entry.sawRequest = true;
      entry.attempt++;
      if (state === TCP_TIME_WAIT || delayOf(entry) === undefined) {
        this.removePending(entry);
        this.options.metrics.kernelLookupMisses.inc();
      }
    }
    this.runLookups();
  }

  private removePending(entry: PendingLookup): void {
    const list = this.pending.get(entry.hash);
    if (list === undefined) return;
    const at = list.indexOf(entry);
    if (at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) this.pending.delete(entry.hash);
    this.pendingCount--;
  }

  /** A socket was announced another way: its flow needs no more lookups. */
  private settlePending(key: FlowKey): void {
    const list = this.pending.get(hashFlowKey(key));
    if (list === undefined) return;
    for (const entry of [...list]) {
      if (!flowKeysEqual(entry.key, key)) continue;
      this.removePending(entry);
      entry.settled = true;
    }
  }

  // ------------------------------------------------------------------ records

  private isKnown(words: Uint32Array, w: number): boolean {
    return this.known.has(cookieOf(words[w], words[w + 1]));
  }

  /**
   * One record from any way in: remembers its socket, and announces it when it
   * is new. Returns whether the record is a socket that names a flow (a full,
   * connected socket: not a listener, request or TIME_WAIT socket).
   */
  private consider(words: Uint32Array, w: number, records: Buffer, how: AnnounceHow, generation: number): boolean {
    const ports = words[w + 2]; // local port | remote port << 16
    const remotePort = ports >>> 16;
    const state = stateOf(words, w);
    if (remotePort === 0 || state === TCP_LISTEN) return false;
    const low = words[w];
    const high = words[w + 1];
    if (low === 0 && high === 0) return false; // the kernel never hands out cookie 0
    const cookie = cookieOf(low, high);
    if (this.options.existingOnly === true) {
      // Remembered, not announced: tcp-info announced it to the earlier run.
      if (state !== TCP_SYN_RECV) this.rememberStartupSocket(records, w * 4, ports);
      return state !== TCP_SYN_RECV && state !== TCP_TIME_WAIT;
    }
    const seen = this.known.get(cookie);
    const mini = state === TCP_SYN_RECV || state === TCP_TIME_WAIT;
    if (seen !== undefined) {
      // A TIME_WAIT socket with a known cookie is the announced socket's
      // successor: remembering it keeps a late destroy report from naming it again.
      if (seen.generation < generation) seen.generation = generation;
      return !mini;
    }
    if (mini) {
      // A connection the server closed before this run (an orphaned socket is
      // a time-wait one once its FIN is acknowledged) still ends: its last
      // packets name their flow from it when the run before named it. Then it
      // carries the full socket's cookie, which the kernel copies once it was
      // made; otherwise its cookie is a new one that no application saw.
      if (this.startingUp && state === TCP_TIME_WAIT && this.options.namedBefore?.has(cookieText(low, high)) === true) {
        this.rememberStartupSocket(records, w * 4, ports);
      }
      return false;
    }
    this.known.set(cookie, { generation });
    this.announce(records, w * 4, low, high, ports & 0xffff, remotePort, how);
    return true;
  }

  private rememberStartupSocket(records: Buffer, o: number, ports: number): void {
    for (let w = 0; w < 8; w++) this.scratch[w] = records.readInt32BE(o + 16 + 4 * w);
    const key = newFlowKey();
    canonicalize(this.scratch, ports & 0xffff, ports >>> 16, key);
    const hash = hashFlowKey(key);
    const entry = { key, record: Buffer.from(records.subarray(o, o + SOCKET_RECORD_BYTES)) };
    const list = this.startupSockets.get(hash);
    if (list === undefined) this.startupSockets.set(hash, [entry]);
    else list.push(entry);
  }

  /** The flow of `key` is named after the socket of it the first poll remembered, if there is one. */
  private nameStartupSocket(key: FlowKey): boolean {
    const hash = hashFlowKey(key);
    const list = this.startupSockets.get(hash);
    const at = list === undefined ? -1 : list.findIndex((e) => flowKeysEqual(e.key, key));
    if (at < 0) return false;
    const [{ record }] = list!.splice(at, 1);
    if (list!.length === 0) this.startupSockets.delete(hash);
    this.options.metrics.kernelLookups.inc();
    this.announceFound(recordWords(record), 0, record);
    return true;
  }

  /** A socket that existed before this run, asked for since: announced as continued. */
  private announceFound(words: Uint32Array, w: number, records: Buffer): void {
    const low = words[w];
    const high = words[w + 1];
    const ports = words[w + 2];
    this.known.set(cookieOf(low, high), { generation: this.generation });
    this.announce(records, w * 4, low, high, ports & 0xffff, ports >>> 16, 'lookup', true);
  }

  private announce(
    records: Buffer,
    o: number,
    low: number,
    high: number,
    localPort: number,
    remotePort: number,
    how: AnnounceHow,
    existedBefore = this.startingUp,
  ): void {
    const scratch = this.scratch;
    for (let w = 0; w < 8; w++) scratch[w] = records.readInt32BE(o + 16 + 4 * w);
    const key = newFlowKey();
    const swapped = canonicalize(scratch, localPort, remotePort, key);
    const local: 0 | 1 = swapped ? 1 : 0;
    const remote: 0 | 1 = swapped ? 0 : 1;
    const event: FlowOpenEvent = {
      kind: 'open',
      uuid: uuidFromCookie(this.prefix, low, high),
      timestampMs: this.wallClock(),
      key,
      cookie: (BigInt(high) << 32n) | BigInt(low),
      foundBy: `${how}, TCP state ${records[o + 12]}`,
      continued: existedBefore,
      srcIP: addressText(key, local),
      srcPort: localPort,
      dstIP: addressText(key, remote),
      dstPort: remotePort,
    };
    if (this.pendingCount > 0 && how !== 'lookup') this.settlePending(key);
    this.options.metrics.kernelUuids.labels(how).inc();
    this.emit(event);
  }

  /** Logs an error once until a different one happens. */
  private reportError(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.options.log(message);
  }
}
