// The classic pcap file format with nanosecond timestamps
// (https://www.tcpdump.org/manpages/pcap-savefile.5.html), little-endian.
export const PCAP_FILE_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
/** Magic for nanosecond-resolution files; written little-endian it reads 4d 3c b2 a1. */
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;

export function writePcapFileHeader(target: Buffer, offset: number, snaplen: number, linkType: number): number {
  target.writeUInt32LE(PCAP_MAGIC_NANOSECONDS, offset);
  target.writeUInt16LE(2, offset + 4); // version 2.4
  target.writeUInt16LE(4, offset + 6);
  target.writeInt32LE(0, offset + 8); // thiszone: timestamps are UTC
  target.writeUInt32LE(0, offset + 12); // sigfigs
  target.writeUInt32LE(snaplen, offset + 16);
  target.writeUInt32LE(linkType, offset + 20);
  return offset + PCAP_FILE_HEADER_BYTES;
}
