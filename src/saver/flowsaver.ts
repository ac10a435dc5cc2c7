// The state of one TCP flow, from its first packet or UUID to its file.
// Packets are cut to the flow's header length, their payload zeroed and their
// addresses anonymized as they are stored (the flow store does the copying),
// so memory only ever holds headers.
import type { FlowKey } from '../decode/flowkey.js';
import type { FlowFile } from './flowfile.js';
import { ANONYMIZE_DESTINATION, ANONYMIZE_SOURCE, ENDS_CONNECTION } from './flowstore.js';

/** The largest TCP header: 15 words of 4 bytes. */
export const MAX_TCP_HEADER_BYTES = 60;

export const enum SaverState {
  /** Packets are buffered until the UUID arrives. */
  UuidWait = 0,
  /** The UUID is known; packets go to the file. */
  Saving = 1,
  /** The UUID never came: packets are dropped until the flow times out. */
  Discarding = 2,
  /**
   * -captureduration is over and the file is written: later packets are not
   * wanted, and are dropped until the flow times out. Its own state, so that
   * no operator reads these flows as losing packets.
   */
  Written = 3,
  /** Removed from the flow table. */
  Closed = 4,
}

/** Label values of pcap_saver_states and pcap_missed_*_total{saverstate}, indexed by SaverState. */
export const SAVER_STATE_NAMES = ['uuidwait', 'saving', 'discardingpackets', 'filewritten', 'closed'] as const;

export class FlowSaver {
  readonly key: FlowKey;
  readonly hash: number;
  /** Next flow in the same hash bucket of the flow table. */
  nextInBucket: FlowSaver | null = null;
  state: SaverState = SaverState.UuidWait;
  readonly startedAt: number;
  /** Set by every packet, cleared by every sweep: a flow swept while clear is idle. */
  sawPacket = true;
  uuid: string | null = null;
  /** The event that gave the UUID: which end of the connection its socket was. */
  namedBy: { srcIP: string; srcPort: number; dstIP: string; dstPort: number; foundBy?: string } | null = null;
  /** Bytes kept of each packet; 0 until the first packet fixes it. */
  headerLength = 0;
  linkType = -1;
  packetsSaved = 0;
  /** Packets routed to this flow, kept or not. */
  packetsSeen = 0;
  /** The first connection-opening SYN of the flow: its sequence number (-1 = none yet) and direction. */
  private synSeq = -1;
  private synSwapped = false;
  readonly file: FlowFile;
  private readonly anonymizeA: boolean;
  private readonly anonymizeB: boolean;
  /** Records stored since the last flush. */
  private unflushed = false;

  constructor(key: FlowKey, hash: number, startedAt: number, file: FlowFile, anonymize: { a: boolean; b: boolean }) {
    this.key = key;
    this.hash = hash;
    this.startedAt = startedAt;
    this.file = file;
    this.anonymizeA = anonymize.a;
    this.anonymizeB = anonymize.b;
  }

  /**
   * Whether a connection-opening SYN (SYN without ACK) belongs to a new
   * connection on this flow's 4-tuple rather than to this one: this flow has
   * packets already, and the SYN is not a retransmission of its own opening
   * SYN (same sequence number) nor the other end's SYN of a simultaneous open.
   */
  isNewConnection(seq: number, swapped: boolean): boolean {
    if (this.packetsSeen === 0) return false;
    if (this.synSeq === -1) return true;
    return swapped === this.synSwapped && seq !== this.synSeq;
  }

  /** Remembers the flow's opening SYN (the first one only). */
  noteSyn(seq: number, swapped: boolean): void {
    if (this.synSeq !== -1) return;
    this.synSeq = seq;
    this.synSwapped = swapped;
  }

  /** Whether packets of this flow are still wanted. */
  get accepting(): boolean {
    return this.state === SaverState.UuidWait || this.state === SaverState.Saving;
  }

  /** Whether records were stored since the last flush. */
  get hasUnflushed(): boolean {
    return this.unflushed;
  }

  /**
   * Stores the packet described at `descriptionAt` of the batch being read,
   * whose TCP header starts `tcpOffset` bytes into the frame; `ending` for a
   * FIN or RST. Returns false when the packet cannot belong to this flow's file.
   */
  addPacket(descriptionAt: number, tcpOffset: number, swapped: boolean, ending: boolean, linkType: number): boolean {
    if (this.headerLength === 0) {
      // The first packet fixes the header length: everything before TCP plus
      // the largest TCP header. IPv6 extension headers count as "before".
      this.headerLength = tcpOffset + MAX_TCP_HEADER_BYTES;
      this.linkType = linkType;
    } else if (linkType !== this.linkType) {
      return false;
    }
    let flags = ending ? ENDS_CONNECTION : 0;
    if (this.anonymizeA || this.anonymizeB) {
      // The packet's source is endpoint A unless the decoder swapped it.
      const sourceIsA = !swapped;
      if (sourceIsA ? this.anonymizeA : this.anonymizeB) flags |= ANONYMIZE_SOURCE;
      if (sourceIsA ? this.anonymizeB : this.anonymizeA) flags |= ANONYMIZE_DESTINATION;
    }
    if (!this.file.addRecord(descriptionAt, this.headerLength, flags)) return false;
    this.unflushed = true;
    this.packetsSaved++;
    return true;
  }

  /** Sends the stored records on to compression (stream mode: to the file). */
  flush(): void {
    if (!this.unflushed) return;
    this.unflushed = false;
    this.file.flush();
  }

  /** Drops stored records (the flow will never be written). */
  dropBuffered(): void {
    this.unflushed = false;
    this.file.discard();
  }
}
