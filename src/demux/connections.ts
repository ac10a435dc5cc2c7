// The named connections the demuxer remembers beyond their flow. A flow ends
// after -flowtimeout without packets, but its connection may only be quiet (a
// keep-alive that idles, a client that closes seconds after the server): when
// it sends again, its packets must go under its UUID, which the flow source
// will not send a second time. So each connection named is remembered, by its
// 4-tuple, until the capture duration counted from its first flow is over, or
// its flow source reported it closed and it has no flow; a new connection on
// the 4-tuple (an opening SYN, another UUID) replaces it.
import { flowKeysEqual, type FlowKey } from '../decode/flowkey.js';
import type { FlowOpenEvent } from '../flowevents/types.js';

/** What the memory needs of a flow (./flow.ts Flow). */
export interface ConnectionFlow {
  readonly key: FlowKey;
  readonly hash: number;
  readonly startedAt: number;
  connection: NamedConnection<this> | null;
}

export interface NamedConnection<F extends ConnectionFlow = ConnectionFlow> {
  readonly key: FlowKey;
  readonly hash: number;
  /** The Open event that named it: its UUID, and its timestamp, which dates its files. */
  readonly event: FlowOpenEvent;
  /** When its first flow started (the demuxer's clock): -captureduration counts from here. */
  readonly startedAt: number;
  /** Its flow now, null between flows. */
  flow: F | null;
  /**
   * A file of it may exist already (a flow of this run stored packets for
   * one, or the connection existed before this run started): its next file
   * gets a name of its own (continuationName).
   */
  published: boolean;
  /** A flow of it saw a packet: a connection-opening SYN now is a new connection's (but see openingSeq). */
  hadPackets: boolean;
  /** The sequence number of its opening SYN (-1: none seen): a retransmission of it is still this connection. */
  openingSeq: number;
  /** The last continuation name's time (epoch ms), so that two are never the same. */
  lastContinuationMs: number;
  /** Its flow source reported it closed: forgotten when its flow ends. */
  closedBySource: boolean;
  /** Forgotten already (expired or replaced). */
  gone: boolean;
}

export class ConnectionMemory<F extends ConnectionFlow> {
  private readonly byHash = new Map<number, Array<NamedConnection<F>>>();
  private readonly byUuid = new Map<string, NamedConnection<F>>();
  /** In the order they were remembered, which is (within -uuidwaitduration) the order their capture ends. */
  private readonly queue: Array<NamedConnection<F>> = [];
  private head = 0;
  private readonly captureDurationMs: number;

  constructor(captureDurationMs: number) {
    this.captureDurationMs = captureDurationMs;
  }

  get size(): number {
    return this.byUuid.size;
  }

  /** The UUIDs of the connections remembered now. */
  uuids(): string[] {
    return [...this.byUuid.keys()];
  }

  /**
   * Whether a connection-opening SYN with sequence number `seq` on the
   * 4-tuple of `c` opens a new connection: not when `c` never had a packet
   * (announced before its SYN, which comes now) nor for a retransmission of
   * its own opening SYN.
   */
  opensNewConnection(c: NamedConnection<F>, seq: number): boolean {
    return c.hadPackets && seq !== c.openingSeq;
  }

  find(hash: number, key: FlowKey): NamedConnection<F> | null {
    const list = this.byHash.get(hash);
    if (list === undefined) return null;
    for (const c of list) if (flowKeysEqual(c.key, key)) return c;
    return null;
  }

  /** When a connection's capture duration is over. */
  captureEndsAt(c: NamedConnection<F>): number {
    return c.startedAt + this.captureDurationMs;
  }

  /** A connection just named, its flow `flow`; any other remembered on the 4-tuple is forgotten. */
  remember(flow: F, event: FlowOpenEvent): NamedConnection<F> {
    const old = this.find(flow.hash, flow.key);
    if (old !== null) this.forget(old);
    const c: NamedConnection<F> = {
      key: flow.key,
      hash: flow.hash,
      event,
      startedAt: flow.startedAt,
      flow,
      published: event.continued === true,
      hadPackets: false,
      openingSeq: -1,
      lastContinuationMs: 0,
      closedBySource: false,
      gone: false,
    };
    const list = this.byHash.get(c.hash);
    if (list === undefined) this.byHash.set(c.hash, [c]);
    else list.push(c);
    this.byUuid.set(event.uuid, c);
    this.queue.push(c);
    return c;
  }

  forget(c: NamedConnection<F>): void {
    if (c.gone) return;
    c.gone = true;
    if (c.flow !== null && c.flow.connection === c) c.flow.connection = null;
    c.flow = null;
    const list = this.byHash.get(c.hash);
    if (list !== undefined) {
      const at = list.indexOf(c);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.byHash.delete(c.hash);
    }
    if (this.byUuid.get(c.event.uuid) === c) this.byUuid.delete(c.event.uuid);
  }

  /** The flow source reported the connection named `uuid` closed. */
  closeReported(uuid: string): void {
    const c = this.byUuid.get(uuid);
    if (c === undefined) return;
    c.closedBySource = true;
    if (c.flow === null) this.forget(c);
  }

  /** The connection's flow ended: what its packets were (FlowStore.flowCounts), and whether they were stored for a file. */
  flowEnded(c: NamedConnection<F>, counts: { seen: number; openingSeq: number }, stored: boolean): void {
    if (stored) c.published = true;
    if (counts.seen > 0) c.hadPackets = true;
    if (c.openingSeq < 0) c.openingSeq = counts.openingSeq;
    c.flow = null;
    if (c.closedBySource) this.forget(c);
  }

  /** The next connection whose capture duration is over at `now` (for the caller to forget), or null. */
  popExpired(now: number): NamedConnection<F> | null {
    while (this.head < this.queue.length) {
      const c = this.queue[this.head];
      if (!c.gone && this.captureEndsAt(c) > now) return null;
      this.queue[this.head] = undefined as unknown as NamedConnection<F>;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      if (c.gone) continue;
      return c;
    }
    return null;
  }

  /**
   * The name of a file of connection `c` that is not its first: its UUID and
   * the UTC time its file starts, `<UUID>.<YYYYMMDDTHHMMSS.sss>Z`, unique
   * even after the first file was shipped and deleted, and across restarts.
   */
  continuationName(c: NamedConnection<F>, wallMs: number): string {
    const ms = Math.max(Math.floor(wallMs), c.lastContinuationMs + 1);
    c.lastContinuationMs = ms;
    return `${c.event.uuid}.${new Date(ms).toISOString().replace(/[-:]/g, '')}`;
  }
}
