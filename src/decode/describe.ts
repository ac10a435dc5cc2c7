// Record descriptions: for every capture record, where its headers are and
// its flow key, as DESCRIPTION_WORDS int32 words (the layout is in
// src/native/layout.ts, D_* and FLAG_*). The addon writes them on the
// capture thread (native/decode.cc), after the records of each batch, so the
// JS thread does no decoding; describeRecords computes the same words in JS
// for batches made elsewhere (tests, tools). A unit test holds the two equal.
import {
  D_DST_ADDRESS,
  D_FLAGS,
  D_HASH,
  D_KEY,
  D_RECORD,
  D_SEQ,
  D_SRC_ADDRESS,
  D_STATUS,
  D_TCP_HEADER_LENGTH,
  D_TCP_OFFSET,
  DECODE_OK,
  DESCRIPTION_WORDS,
  FLAG_FIN,
  FLAG_IPV6,
  FLAG_OPENING_SYN,
  FLAG_RST,
  FLAG_SWAPPED,
  RECORD_HEADER_BYTES,
} from '../native/layout.js';
import { hashFlowKey } from './flowkey.js';
import { DecodedPacket, decodeFrame } from './packet.js';

const TCP_SYN_ACK_MASK = 0x12;
const TCP_SYN = 0x02;
const TCP_FIN = 0x01;
const TCP_RST = 0x04;

/** Records and their descriptions, as the demuxer takes them. */
export interface DescribedBatch {
  records: Buffer;
  described: Int32Array;
}

/**
 * Splits a batch as the addon delivers it: records up to `recordsBytes`, then
 * padding to a multiple of 4, then the descriptions. Views, no copies.
 */
export function splitAddonBatch(batch: Buffer, recordsBytes: number): DescribedBatch {
  const start = (recordsBytes + 3) & ~3;
  const words = (batch.length - start) >> 2;
  return {
    records: batch.subarray(0, recordsBytes),
    described: new Int32Array(batch.buffer, batch.byteOffset + start, words),
  };
}

/** The descriptions of every record of `records` (addon record layout), computed in JS. */
export function describeRecords(records: Buffer, linkType: number): Int32Array {
  let count = 0;
  for (let at = 0; at + RECORD_HEADER_BYTES <= records.length; count++) at += RECORD_HEADER_BYTES + records.readUInt32LE(at + 8);
  const out = new Int32Array(count * DESCRIPTION_WORDS);
  const decoded = new DecodedPacket();
  let d = 0;
  for (let at = 0; at + RECORD_HEADER_BYTES <= records.length; d += DESCRIPTION_WORDS) {
    const caplen = records.readUInt32LE(at + 8);
    const frame = at + RECORD_HEADER_BYTES;
    out[d + D_RECORD] = at;
    at = frame + caplen;
    // A record cut short by the end of the batch is described from what is there.
    const available = Math.min(caplen, records.length - frame);
    const status = decodeFrame(records, frame, available, linkType, decoded);
    out[d + D_STATUS] = status;
    if (status !== DECODE_OK) continue;
    const tcp = frame + decoded.tcpOffset;
    out[d + D_TCP_OFFSET] = decoded.tcpOffset;
    out[d + D_TCP_HEADER_LENGTH] = decoded.tcpHeaderLength;
    out[d + D_FLAGS] =
      (decoded.swapped ? FLAG_SWAPPED : 0) |
      (decoded.ipVersion === 6 ? FLAG_IPV6 : 0) |
      ((records[tcp + 13] & TCP_SYN_ACK_MASK) === TCP_SYN ? FLAG_OPENING_SYN : 0) |
      ((records[tcp + 13] & TCP_FIN) !== 0 ? FLAG_FIN : 0) |
      ((records[tcp + 13] & TCP_RST) !== 0 ? FLAG_RST : 0);
    out[d + D_SEQ] = records.readInt32BE(tcp + 4);
    out[d + D_SRC_ADDRESS] = decoded.srcAddressOffset;
    out[d + D_DST_ADDRESS] = decoded.dstAddressOffset;
    out.set(decoded.key, d + D_KEY);
    out[d + D_HASH] = hashFlowKey(decoded.key);
  }
  return out;
}

