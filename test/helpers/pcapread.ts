// A minimal reader of the pcap files the daemon writes, for asserting on them
// in unit tests (integration tests use tshark as the independent reader).
import { gunzipSync } from 'node:zlib';

export interface PcapFile {
  magic: number;
  snaplen: number;
  linkType: number;
  records: Array<{ seconds: number; nanoseconds: number; caplen: number; origlen: number; data: Buffer }>;
}

export function parsePcap(bytes: Buffer): PcapFile {
  const magic = bytes.readUInt32LE(0);
  const file: PcapFile = { magic, snaplen: bytes.readUInt32LE(16), linkType: bytes.readUInt32LE(20), records: [] };
  for (let at = 24; at + 16 <= bytes.length; ) {
    const caplen = bytes.readUInt32LE(at + 8);
    file.records.push({
      seconds: bytes.readUInt32LE(at),
      nanoseconds: bytes.readUInt32LE(at + 4),
      caplen,
      origlen: bytes.readUInt32LE(at + 12),
      data: bytes.subarray(at + 16, at + 16 + caplen),
    });
    at += 16 + caplen;
  }
  return file;
}

export function parsePcapGz(bytes: Buffer): PcapFile {
  return parsePcap(gunzipSync(bytes));
}
