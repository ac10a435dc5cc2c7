// LINKTYPE_ values (as written in pcap file headers) that the decoder understands.
// The addon hands over LINKTYPE values, already translated from libpcap's DLT values.
export const LINKTYPE_NULL = 0; // BSD loopback: 4-byte address family in host byte order
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101; // bare IPv4 or IPv6 (tun devices)
export const LINKTYPE_LOOP = 108; // OpenBSD loopback: address family in network byte order
export const LINKTYPE_LINUX_SLL = 113; // Linux cooked capture v1 (16-byte header)
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276; // Linux cooked capture v2 (20-byte header)

const supported = new Set([
  LINKTYPE_NULL,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_LOOP,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL2,
]);

export function isSupportedLinkType(linkType: number): boolean {
  return supported.has(linkType);
}
