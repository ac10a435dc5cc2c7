// The state of one TCP flow, from its first packet or UUID to its file.
// Packets are trimmed to the flow's header length, their payload zeroed and
// their addresses anonymized the moment they arrive, so memory only ever
// holds headers. Records collect in a chunk that grows up to CHUNK_MAX_BYTES;
// a full chunk goes to the FlowFile to be compressed.
import { RECORD_HEADER_BYTES } from '../capture/addon.js';
import type { FlowKey } from '../decode/flowkey.js';
import type { DecodedPacket } from '../decode/packet.js';
import { maskAddressBytes } from './anonymize.js';
import { CHUNK_MAX_BYTES, giveBackChunk, takeChunk } from './chunkpool.js';
import type { FlowFile } from './flowfile.js';
import { PCAP_FILE_HEADER_BYTES, PCAP_RECORD_HEADER_BYTES, writePcapFileHeader } from './pcapformat.js';

/** The largest TCP header: 15 words of 4 bytes. */
export const MAX_TCP_HEADER_BYTES = 60;
/**
 * First chunk size: a handshake, a short exchange and the close fit (about ten
 * records). Kept small because a SYN flood starts tens of thousands of flows
 * that never grow, and each holds one chunk until it times out.
 */
export const CHUNK_INITIAL_BYTES = 1024;
export { CHUNK_MAX_BYTES };

export const enum SaverState {
  /** Packets are buffered until the UUID arrives. */
  UuidWait = 0,
  /** The UUID is known; packets go to the file. */
  Saving = 1,
  /** Capture duration over or UUID never came: packets are dropped until the flow times out. */
  Discarding = 2,
  /** Removed from the flow table. */
  Closed = 3,
}

/** Label values of pcap_saver_states and pcap_missed_*_total{saverstate}, indexed by SaverState. */
export const SAVER_STATE_NAMES = ['uuidwait', 'saving', 'discardingpackets', 'closed'] as const;

/** A DataView of the batch being read; batches come one at a time, so one is cached. */
let viewedBatch: Buffer | null = null;
let batchView: DataView | null = null;

function viewOf(batch: Buffer): DataView {
  if (batch !== viewedBatch) {
    viewedBatch = batch;
    batchView = new DataView(batch.buffer, batch.byteOffset, batch.length);
  }
  return batchView as DataView;
}

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
  namedBy: { srcIP: string; srcPort: number; dstIP: string; dstPort: number } | null = null;
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
  private chunk: Buffer | null = null;
  /** A DataView of `chunk`, for copying records a word at a time. */
  private chunkView: DataView | null = null;
  private chunkUsed = 0;
  /** Size of the next chunk: as large as this flow has needed so far. */
  private nextChunkBytes = CHUNK_INITIAL_BYTES;

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

  /** Bytes of raw records waiting in the current chunk. */
  get pendingBytes(): number {
    return this.chunkUsed;
  }

  /**
   * Appends the capture record at batch[recordOffset] (addon layout: 16-byte
   * header then the frame) as a trimmed, payload-free, anonymized pcap record.
   * Returns false when the packet cannot belong to this flow's file.
   */
  addPacket(batch: Buffer, recordOffset: number, decoded: DecodedPacket, linkType: number): boolean {
    let extra = 0;
    if (this.headerLength === 0) {
      // The first packet fixes the header length: everything before TCP plus
      // the largest TCP header. IPv6 extension headers count as "before".
      this.headerLength = decoded.tcpOffset + MAX_TCP_HEADER_BYTES;
      this.linkType = linkType;
      extra = PCAP_FILE_HEADER_BYTES;
    } else if (linkType !== this.linkType) {
      return false;
    }
    const from = viewOf(batch);
    const caplen = from.getUint32(recordOffset + 8, true);
    const included = caplen < this.headerLength ? caplen : this.headerLength;
    const chunk = this.reserve(extra + PCAP_RECORD_HEADER_BYTES + included);
    const to = this.chunkView as DataView;
    let at = this.chunkUsed;
    if (extra !== 0) at = writePcapFileHeader(chunk, at, this.headerLength, linkType);
    // Records are small (about 100 bytes), so they are copied four bytes at a
    // time through DataViews: no call into C++ and no allocation per packet.
    // Timestamp seconds and nanoseconds are already in pcap's layout, and so
    // is origlen; only caplen changes.
    to.setInt32(at, from.getInt32(recordOffset));
    to.setInt32(at + 4, from.getInt32(recordOffset + 4));
    to.setUint32(at + 8, included, true);
    to.setInt32(at + 12, from.getInt32(recordOffset + 12));
    const frame = at + PCAP_RECORD_HEADER_BYTES;
    const source = recordOffset + RECORD_HEADER_BYTES;
    // Headers are copied; every byte after the TCP header is written as zero.
    const payloadStart = decoded.tcpOffset + decoded.tcpHeaderLength;
    const headers = payloadStart < included ? payloadStart : included;
    // A word at a time where possible: a byte at a time costs several times more.
    let i = 0;
    for (; i + 4 <= headers; i += 4) to.setInt32(frame + i, from.getInt32(source + i, true), true);
    for (; i < headers; i++) chunk[frame + i] = batch[source + i];
    for (; i < included && (i & 3) !== 0; i++) chunk[frame + i] = 0;
    for (; i + 4 <= included; i += 4) to.setInt32(frame + i, 0);
    for (; i < included; i++) chunk[frame + i] = 0;
    if (this.anonymizeA || this.anonymizeB) {
      // The packet's source is endpoint A unless the decoder swapped it.
      const sourceIsA = !decoded.swapped;
      if (sourceIsA ? this.anonymizeA : this.anonymizeB) maskAddressBytes(chunk, frame + decoded.srcAddressOffset, decoded.ipVersion);
      if (sourceIsA ? this.anonymizeB : this.anonymizeA) maskAddressBytes(chunk, frame + decoded.dstAddressOffset, decoded.ipVersion);
    }
    this.chunkUsed = frame + included;
    this.packetsSaved++;
    return true;
  }

  /** Hands the current chunk, if any, to the file for compression. */
  flush(): void {
    if (this.chunk === null || this.chunkUsed === 0) return;
    const full = this.chunk.subarray(0, this.chunkUsed);
    this.chunk = null;
    this.chunkView = null;
    this.chunkUsed = 0;
    this.file.addChunk(full);
  }

  /** Drops buffered records (the flow will never be written). */
  dropBuffered(): void {
    this.chunk = null;
    this.chunkView = null;
    this.chunkUsed = 0;
    this.file.discard();
  }

  private reserve(bytes: number): Buffer {
    const chunk = this.chunk;
    if (chunk !== null && this.chunkUsed + bytes <= chunk.length) return chunk;
    if (chunk !== null && chunk.length < CHUNK_MAX_BYTES) {
      // Grow: a flow that outgrows its chunk is probably a long one.
      const size = Math.min(CHUNK_MAX_BYTES, Math.max(chunk.length * 2, this.chunkUsed + bytes));
      if (this.chunkUsed + bytes <= size) {
        const grown = takeChunk(size);
        chunk.copy(grown, 0, 0, this.chunkUsed);
        giveBackChunk(chunk.buffer as ArrayBuffer);
        this.chunk = grown;
        this.chunkView = new DataView(grown.buffer, grown.byteOffset, grown.length);
        this.nextChunkBytes = size;
        return grown;
      }
    }
    this.flush();
    // Slow (unpooled) buffers: a pooled slice would pin an 8 KiB slab per idle flow.
    const fresh = takeChunk(Math.max(this.nextChunkBytes, bytes));
    this.chunk = fresh;
    this.chunkView = new DataView(fresh.buffer, fresh.byteOffset, fresh.length);
    this.chunkUsed = 0;
    return fresh;
  }
}
