// Offline input files for -read. libpcap reads plain pcap and pcapng, but not
// gzip; a gzipped capture (recognized by its magic bytes, whatever its name)
// is decompressed with streaming zlib into a temporary file in os.tmpdir()
// that libpcap then reads like any other.
//
// On Linux the temporary file is unlinked as soon as it is complete and kept
// alive through an open descriptor: libpcap opens it as /proc/self/fd/N, and
// nothing is left on disk however the process ends. Elsewhere the file stays
// until releaseOfflineFiles() or process exit.
import { closeSync, createReadStream, createWriteStream, existsSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
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

/**
 * The path libpcap should open for the -read file `path`: the file itself,
 * or for a gzipped capture a decompressed temporary copy. A file that cannot
 * be read is returned as is, so libpcap reports it the usual way. Throws
 * PacketHeadersError (PH_ERR_CAPTURE) when the gzip stream is corrupt or the
 * copy cannot be written.
 */
export async function offlineCapturePath(path: string): Promise<string> {
  if (!isGzipFile(path)) return path;
  installExitHook();
  const entry: Held = { fd: null, directory: mkdtempSync(join(tmpdir(), 'packet-headers-read-')) };
  held.add(entry);
  const copy = join(entry.directory as string, basename(path).replace(/\.gz$/i, '') || 'capture.pcap');
  try {
    await pipeline(createReadStream(path), createGunzip(), createWriteStream(copy));
  } catch (error) {
    release(entry);
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message ?? String(error);
    throw new PacketHeadersError('PH_ERR_CAPTURE', `cannot decompress "${path}": ${reason}`, { cause: error });
  }
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
