// Reads the records of a classic pcap file, plain or gzipped (one or several
// gzip members, as the daemon and the Go original write them): microsecond or
// nanosecond magic, either byte order. A file cut short or damaged yields the
// records before the fault and says what stopped the reading; nothing throws
// for a bad file, only for a programming error in the visitor.
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { createGunzip, gunzipSync } from 'node:zlib';

export const PCAP_FILE_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
const MAGIC_MICROSECONDS = 0xa1b2c3d4;
const MAGIC_NANOSECONDS = 0xa1b23c4d;
/** A record longer than this (and than the file's snaplen) means the file is damaged, not a jumbo frame. */
const MAX_PLAUSIBLE_CAPLEN = 262144;
/** Files up to this size (compressed) are read and inflated in one call: cheaper than a stream per small file. */
const WHOLE_FILE_LIMIT = 8 * 1024 * 1024;
const STREAM_CHUNK_BYTES = 1024 * 1024;
/**
 * Output pieces of gunzipSync, sized from the compressed size: a small flow's
 * records fit in one (no concatenation), and a tiny flow's file does not
 * allocate 64 KiB (the garbage collector counts that memory).
 */
function inflateChunkFor(compressedBytes: number): number {
  let chunk = 4096;
  while (chunk < compressedBytes * 16 && chunk < 1024 * 1024) chunk *= 2;
  return chunk;
}

export interface PcapHeader {
  linkType: number;
  snaplen: number;
  /** True for the nanosecond magic, false for microseconds. */
  nanoseconds: boolean;
  bigEndian: boolean;
  /** Major.minor version as written. */
  version: string;
}

/**
 * Called once per record. `data[offset, offset + caplen)` is the captured
 * frame; the buffer is reused, so copy what must outlive the call.
 */
export type RecordVisitor = (data: Buffer, offset: number, caplen: number, origlen: number, seconds: number, nanoseconds: number) => void;

export type ReadProblemCode =
  | 'open' // the file could not be opened or read
  | 'empty' // no bytes at all
  | 'magic' // not a pcap file (nor a gzipped one)
  | 'gzip' // the gzip stream is cut short or damaged
  | 'header' // the file ends inside the pcap file header
  | 'record' // a record header says a length no capture has (damaged)
  | 'truncated'; // the file ends inside a record

export interface ReadProblem {
  code: ReadProblemCode;
  message: string;
}

export interface PcapReadResult {
  header: PcapHeader | null;
  records: number;
  /** Uncompressed bytes consumed as whole records (and the file header). */
  bytes: number;
  gzipped: boolean;
  /** Why the reading stopped before the end of the file, or null when it was read to its end. */
  problem: ReadProblem | null;
}

// Record header fields read byte by byte: Buffer's readUInt32LE/BE check
// their argument on every call. The loops read only inside `data`.
function u32le(data: Buffer, at: number): number {
  return data[at] + ((data[at + 1] << 8) | (data[at + 2] << 16)) + data[at + 3] * 0x1000000;
}
function u32be(data: Buffer, at: number): number {
  return data[at] * 0x1000000 + ((data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]);
}

/** Splits a byte stream (chunks in any sizes) into pcap records. */
export class PcapRecordParser {
  header: PcapHeader | null = null;
  records = 0;
  bytes = 0;
  problem: ReadProblem | null = null;
  private pending: Buffer | null = null;

  constructor(private readonly visit: RecordVisitor, private readonly onHeader?: (header: PcapHeader) => void) {}

  /** Feeds the next bytes; returns false once the data is damaged (the rest is not worth reading). */
  push(chunk: Buffer): boolean {
    if (this.problem !== null) return false;
    let data = chunk;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let at = 0;
    if (this.header === null) {
      if (data.length < PCAP_FILE_HEADER_BYTES) {
        this.pending = data;
        return true;
      }
      if (!this.parseHeader(data)) return false;
      at = PCAP_FILE_HEADER_BYTES;
      this.bytes = PCAP_FILE_HEADER_BYTES;
    }
    at = this.header!.bigEndian ? this.recordsBE(data, at) : this.recordsLE(data, at);
    if (at < 0) return false;
    if (at < data.length) this.pending = data.subarray(at);
    return true;
  }

  /** The input ended: bytes left over mean the file was cut inside a header or record. */
  finish(): ReadProblem | null {
    if (this.problem === null && this.pending !== null && this.pending.length > 0) {
      if (this.header === null) this.problem = { code: 'header', message: `file ends after ${this.pending.length} bytes, inside the pcap file header` };
      else this.problem = { code: 'truncated', message: `file ends inside record ${this.records + 1} (${this.pending.length} bytes of it present)` };
    }
    this.pending = null;
    return this.problem;
  }

  private parseHeader(data: Buffer): boolean {
    const le = data.readUInt32LE(0);
    const be = data.readUInt32BE(0);
    let bigEndian: boolean;
    let nanoseconds: boolean;
    if (le === MAGIC_MICROSECONDS || le === MAGIC_NANOSECONDS) {
      bigEndian = false;
      nanoseconds = le === MAGIC_NANOSECONDS;
    } else if (be === MAGIC_MICROSECONDS || be === MAGIC_NANOSECONDS) {
      bigEndian = true;
      nanoseconds = be === MAGIC_NANOSECONDS;
    } else {
      this.problem = { code: 'magic', message: `not a pcap file (magic ${data.subarray(0, 4).toString('hex')})` };
      return false;
    }
    const u16 = (o: number) => (bigEndian ? data.readUInt16BE(o) : data.readUInt16LE(o));
    const u32 = (o: number) => (bigEndian ? data.readUInt32BE(o) : data.readUInt32LE(o));
    // The upper 16 bits of the link-type field hold FCS flags (pcap-savefile(5)).
    const header: PcapHeader = { linkType: u32(20) & 0xffff, snaplen: u32(16), nanoseconds, bigEndian, version: `${u16(4)}.${u16(6)}` };
    this.header = header;
    this.onHeader?.(header);
    return true;
  }

  // Two copies of one loop, so that the byte order is not tested per field.
  private recordsLE(data: Buffer, start: number): number {
    const scale = this.header!.nanoseconds ? 1 : 1000;
    const limit = Math.max(this.header!.snaplen, MAX_PLAUSIBLE_CAPLEN);
    const visit = this.visit;
    let at = start;
    while (at + PCAP_RECORD_HEADER_BYTES <= data.length) {
      const caplen = u32le(data, at + 8);
      if (caplen > limit) return this.damaged(caplen);
      const end = at + PCAP_RECORD_HEADER_BYTES + caplen;
      if (end > data.length) break;
      visit(data, at + PCAP_RECORD_HEADER_BYTES, caplen, u32le(data, at + 12), u32le(data, at), u32le(data, at + 4) * scale);
      this.records++;
      this.bytes += end - at;
      at = end;
    }
    return at;
  }

  private recordsBE(data: Buffer, start: number): number {
    const scale = this.header!.nanoseconds ? 1 : 1000;
    const limit = Math.max(this.header!.snaplen, MAX_PLAUSIBLE_CAPLEN);
    const visit = this.visit;
    let at = start;
    while (at + PCAP_RECORD_HEADER_BYTES <= data.length) {
      const caplen = u32be(data, at + 8);
      if (caplen > limit) return this.damaged(caplen);
      const end = at + PCAP_RECORD_HEADER_BYTES + caplen;
      if (end > data.length) break;
      visit(data, at + PCAP_RECORD_HEADER_BYTES, caplen, u32be(data, at + 12), u32be(data, at), u32be(data, at + 4) * scale);
      this.records++;
      this.bytes += end - at;
      at = end;
    }
    return at;
  }

  private damaged(caplen: number): number {
    this.problem = { code: 'record', message: `record ${this.records + 1} claims ${caplen} captured bytes: the file is damaged there` };
    this.pending = null;
    return -1;
  }
}

function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** Inflates what it can of a damaged or cut gzip buffer, chunk by chunk, into the parser. */
function inflatePrefix(compressed: Buffer, parser: PcapRecordParser): Promise<string | null> {
  return new Promise((resolve) => {
    const gunzip = createGunzip({ chunkSize: STREAM_CHUNK_BYTES });
    gunzip.on('data', (chunk: Buffer) => {
      if (!parser.push(chunk)) gunzip.destroy();
    });
    gunzip.on('error', (error) => resolve(error.message));
    gunzip.on('end', () => resolve(null));
    gunzip.on('close', () => resolve(null));
    gunzip.end(compressed);
  });
}

async function streamInto(path: string, gzipped: boolean, parser: PcapRecordParser): Promise<string | null> {
  const file = createReadStream(path, { highWaterMark: STREAM_CHUNK_BYTES });
  const source = gzipped ? file.pipe(createGunzip({ chunkSize: STREAM_CHUNK_BYTES })) : file;
  // A read error of the file itself surfaces on `file`, not on the gunzip stream.
  let fileError: string | null = null;
  file.on('error', (error) => {
    fileError = error.message;
    if (source !== file) source.destroy();
  });
  try {
    for await (const chunk of source) {
      if (!parser.push(chunk as Buffer)) break;
    }
  } catch (error) {
    return fileError ?? (error as Error).message;
  } finally {
    file.destroy();
    if (source !== file) source.destroy();
  }
  return fileError;
}

/** The file's bytes, read into this buffer (grown as needed, shrunk back after a big file) and parsed before the next file is read. */
const READ_BUFFER_BYTES = 256 * 1024;
let readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
let readBufferBusy = false;

function resultOf(parser: PcapRecordParser, gzipped: boolean, gzipError: string | null, readError: string | null): PcapReadResult {
  let problem = parser.problem;
  if (problem === null && readError !== null) problem = { code: 'open', message: readError };
  if (problem === null && gzipError !== null) {
    parser.finish();
    problem = { code: 'gzip', message: `gzip data cut short or damaged after ${parser.bytes} uncompressed bytes (${gzipError})` };
  }
  problem ??= parser.finish();
  return { header: parser.header, records: parser.records, bytes: parser.bytes, gzipped, problem };
}

function openProblem(error: unknown): PcapReadResult {
  return { header: null, records: 0, bytes: 0, gzipped: false, problem: { code: 'open', message: (error as Error).message } };
}

/**
 * Reads every record of the file at `path` (pcap or gzipped pcap, told apart by
 * their first bytes, not by the name) and calls `visit` for each, in order.
 * A file up to WHOLE_FILE_LIMIT (nearly all of them) is read, inflated and
 * parsed synchronously, with no promise: the result comes back as is. Only a
 * bigger file (streamed, to bound memory) or a cut or damaged gzip file (whose
 * readable prefix is inflated by a stream) gives a promise.
 */
export function readPcapFileQuick(path: string, visit: RecordVisitor, onHeader?: (header: PcapHeader) => void): PcapReadResult | Promise<PcapReadResult> {
  const parser = new PcapRecordParser(visit, onHeader);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    return openProblem(error);
  }
  let gzipped = false;
  let readError: string | null = null;
  let compressed: Buffer | null = null;
  let big = false;
  let ownsReadBuffer = false;
  try {
    // One open per file: small files (nearly all) are read whole through it.
    const size = fstatSync(fd).size;
    if (size === 0) return { header: null, records: 0, bytes: 0, gzipped, problem: { code: 'empty', message: 'the file is empty' } };
    if (size <= WHOLE_FILE_LIMIT) {
      // A visitor that reads another file meanwhile gets a buffer of its own.
      const nested = readBufferBusy;
      const buffer = nested || readBuffer.length < size ? Buffer.allocUnsafe(Math.max(size, nested ? 0 : READ_BUFFER_BYTES)) : readBuffer;
      if (!nested) {
        readBuffer = buffer;
        readBufferBusy = true;
        ownsReadBuffer = true;
      }
      // As readFile does: up to the size fstat gave, less if the file ends sooner.
      let length = 0;
      for (;;) {
        const n = readSync(fd, buffer, length, size - length, null);
        if (n === 0) break;
        length += n;
        if (length === size) break;
      }
      const bytes = buffer.subarray(0, length);
      gzipped = isGzip(bytes);
      if (!gzipped) parser.push(bytes);
      else {
        let plain: Buffer | null = null;
        try {
          plain = gunzipSync(bytes, { chunkSize: inflateChunkFor(bytes.length) });
        } catch {
          // Cut or damaged: inflated again below, keeping everything before the fault.
          compressed = Buffer.from(bytes);
        }
        if (plain !== null) parser.push(plain);
      }
    } else {
      big = true;
      const head = Buffer.alloc(2);
      readSync(fd, head, 0, 2, 0);
      gzipped = isGzip(head);
    }
  } catch (error) {
    readError = (error as Error).message;
  } finally {
    closeSync(fd);
    if (ownsReadBuffer) {
      readBufferBusy = false;
      // A big file's buffer is given back.
      if (readBuffer.length > READ_BUFFER_BYTES) readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    }
  }
  if (compressed !== null) {
    const bytes = compressed;
    return inflatePrefix(bytes, parser).then((error) => resultOf(parser, true, error ?? 'gzip stream damaged', null));
  }
  if (big && readError === null) {
    return streamInto(path, gzipped, parser).then((error) => resultOf(parser, gzipped, gzipped ? error : null, gzipped ? null : error));
  }
  return resultOf(parser, gzipped, null, readError);
}
