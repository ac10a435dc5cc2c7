// Offline input files for -read. libpcap reads plain pcap and pcapng, but not
// gzip; a gzipped capture (recognized by its magic bytes, whatever its name)
// is decompressed with streaming zlib into a temporary file in os.tmpdir()
// that libpcap then reads like any other. A gzip stream that is cut short or
// damaged keeps what was decompressed before the fault (libpcap then reads
// the copy up to its last whole packet), and the fault is reported with the
// input; only when nothing at all comes out is it a start-up error.
//
// On Linux the temporary file is unlinked as soon as it is complete and kept
// alive through an open descriptor: libpcap opens it as /proc/self/fd/N, and
// nothing is left on disk however the process ends. Elsewhere the file stays
// until releaseOfflineFiles() or process exit.
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { PacketHeadersError } from '../errors.js';

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

interface Held {
  fd: number | null;
  directory: string | null;
}

const held = new Set<Held>();
let exitHookInstalled = false;

/** True when the file starts with gzip's magic bytes; false when it does not or cannot be read. */
export function isGzipFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Where and how a gzip stream stopped before its end. */
export interface GzipFault {
  /** zlib's code: Z_BUF_ERROR when the file ends inside a gzip member (cut), Z_DATA_ERROR, ... */
  code: string;
  message: string;
  /** Compressed bytes decompressed without fault (the fault is in the next GZIP_READ_BYTES), and the file's size. */
  compressedOffset: number;
  compressedSize: number;
  /** Decompressed bytes kept, which libpcap reads. */
  decompressedBytes: number;
}

export interface OfflineInput {
  /** The -read argument. */
  name: string;
  /** What libpcap opens: the file, or its decompressed copy. */
  path: string;
  /** A gzipped input that stopped short; null when whole (or not gzipped). */
  gzipFault: GzipFault | null;
}

/** Compressed bytes per read. */
const GZIP_READ_BYTES = 64 * 1024;
/**
 * Decompressed bytes zlib hands over at a time. At a damaged member, what
 * zlib made of the last read but had not handed over yet is lost: at most
 * this much. (A cut stream loses nothing: its error comes at the end.)
 * Smaller costs time: 16 KiB took twice as long as 256 KiB to decompress.
 */
const GZIP_OUTPUT_BYTES = 64 * 1024;

/**
 * The -read file `name` made ready for libpcap: the file itself, or for a
 * gzipped capture a decompressed temporary copy of all that can be
 * decompressed. A file that cannot be read is passed on as is, so libpcap
 * reports it the usual way. Throws PacketHeadersError (PH_ERR_CAPTURE) when
 * a gzip stream gives nothing at all, or the copy cannot be written.
 */
export async function prepareOfflineInput(name: string): Promise<OfflineInput> {
  if (!isGzipFile(name)) return { name, path: name, gzipFault: null };
  installExitHook();
  const entry: Held = { fd: null, directory: mkdtempSync(join(tmpdir(), 'packet-headers-read-')) };
  held.add(entry);
  const copy = join(entry.directory as string, basename(name).replace(/\.gz$/i, '') || 'capture.pcap');
  let gzipFault: GzipFault | null;
  try {
    gzipFault = await decompress(name, copy);
  } catch (error) {
    release(entry);
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message ?? String(error);
    throw new PacketHeadersError('PH_ERR_CAPTURE', `cannot decompress "${name}": ${reason}`, { cause: error });
  }
  if (gzipFault !== null && gzipFault.decompressedBytes === 0) {
    release(entry);
    throw new PacketHeadersError('PH_ERR_CAPTURE', `cannot decompress "${name}": ${gzipFault.code} (${gzipFault.message}) before any data`);
  }
  return { name, path: holdCopy(entry, copy), gzipFault };
}

/**
 * Decompresses `from` into `to`, keeping every byte that comes out before a
 * fault. Returns the fault, or null for a whole stream. Rejects for errors
 * that are not the stream's (reading `from`, writing `to`).
 *
 * The output is written synchronously as zlib hands it over: a stream that
 * is destroyed by its error drops whatever it still buffers, and the bytes
 * just before a cut are the ones wanted.
 */
function decompress(from: string, to: string): Promise<GzipFault | null> {
  const fd = openSync(to, 'w');
  const source = createReadStream(from, { highWaterMark: GZIP_READ_BYTES });
  const gunzip = createGunzip({ chunkSize: GZIP_OUTPUT_BYTES });
  let written = 0;
  let finished = false;
  return new Promise<GzipFault | null>((resolve, reject) => {
    const done = (result: GzipFault | null, error?: unknown) => {
      if (finished) return;
      finished = true;
      source.destroy();
      gunzip.destroy();
      closeSync(fd);
      if (error !== undefined) reject(error);
      else resolve(result);
    };
    source.on('error', (error) => done(null, error));
    gunzip.on('data', (chunk: Buffer) => {
      if (finished) return;
      try {
        for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
      } catch (error) {
        done(null, error);
        return;
      }
      written += chunk.length;
    });
    gunzip.on('end', () => done(null));
    gunzip.on('error', (error: NodeJS.ErrnoException) => {
      if (typeof error.code !== 'string' || !error.code.startsWith('Z_')) return done(null, error);
      done({ code: error.code, message: error.message, compressedOffset: gunzip.bytesWritten, compressedSize: statSync(from).size, decompressedBytes: written });
    });
    source.pipe(gunzip);
  });
}

function holdCopy(entry: Held, copy: string): string {
  if (existsSync('/proc/self/fd')) {
    entry.fd = openSync(copy, 'r');
    rmSync(entry.directory as string, { recursive: true, force: true });
    entry.directory = null;
    return `/proc/self/fd/${entry.fd}`;
  }
  return copy;
}

/**
 * Closes and removes every decompressed copy. Call only once libpcap has
 * opened them (or will not); process exit does it anyway.
 */
export function releaseOfflineFiles(): void {
  for (const entry of [...held]) release(entry);
}

function release(entry: Held): void {
  held.delete(entry);
  if (entry.fd !== null) {
    try {
      closeSync(entry.fd);
    } catch {
      /* already closed */
    }
    entry.fd = null;
  }
  if (entry.directory !== null) {
    rmSync(entry.directory, { recursive: true, force: true });
    entry.directory = null;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', releaseOfflineFiles);
}
