// Reads the daemon's output back: every <UUID>.pcap.gz under a data
// directory, gunzipped (all members) and walked record by record.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface OutputCount {
  files: number;
  packets: number;
  /** Bytes on disk (compressed) and after gunzip. */
  bytes: number;
  rawBytes: number;
  /** Packets per file, by path. */
  perFile: Map<string, number>;
}

/** Records in one gzipped pcap file; throws on a malformed one. */
export function countPcapGz(path: string): { packets: number; rawBytes: number } {
  const raw = gunzipSync(readFileSync(path));
  const magic = raw.readUInt32LE(0);
  if (magic !== 0xa1b23c4d && magic !== 0xa1b2c3d4) throw new Error(`${path}: bad pcap magic ${magic.toString(16)}`);
  let packets = 0;
  let at = 24;
  while (at + 16 <= raw.length) {
    at += 16 + raw.readUInt32LE(at + 8);
    packets++;
  }
  if (at !== raw.length) throw new Error(`${path}: truncated record at byte ${at}`);
  return { packets, rawBytes: raw.length };
}

export function countOutput(datadir: string): OutputCount {
  const result: OutputCount = { files: 0, packets: 0, bytes: 0, rawBytes: 0, perFile: new Map() };
  const entries = readdirSync(datadir, { recursive: true, encoding: 'utf8' });
  for (const entry of entries) {
    if (!entry.endsWith('.pcap.gz') || entry.split('/').pop()?.startsWith('.')) continue;
    const path = join(datadir, entry);
    const { packets, rawBytes } = countPcapGz(path);
    result.files++;
    result.packets += packets;
    result.rawBytes += rawBytes;
    result.bytes += statSync(path).size;
    result.perFile.set(path, packets);
  }
  return result;
}
