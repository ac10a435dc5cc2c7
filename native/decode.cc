#include "decode.h"

#include "bytes.h"

namespace ph {
namespace {

constexpr uint32_t kEthertypeIpv4 = 0x0800;
constexpr uint32_t kEthertypeIpv6 = 0x86dd;
constexpr uint32_t kMaxVlanTags = 8;
constexpr uint32_t kMaxIpv6Extensions = 16;
constexpr uint8_t kIpprotoTcp = 6;

inline uint32_t U16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
inline uint32_t U32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

bool IsVlan(uint32_t ethertype) { return ethertype == 0x8100 || ethertype == 0x88a8 || ethertype == 0x9100; }

// The same hash as hashFlowKey in src/decode/flowkey.ts (30 bits: a small integer to V8).
int32_t HashKey(const uint32_t* key) {
  uint32_t h = 0x811c9dc5u;
  for (int i = 0; i < 9; i++) {
    h = (h ^ key[i]) * 0x01000193u;
    h ^= h >> 15;
  }
  return static_cast<int32_t>(h & 0x3fffffffu);
}

// Endpoint A is the lesser (address, port); returns whether the source became B.
bool Canonicalize(const uint32_t* src, uint32_t srcPort, const uint32_t* dst, uint32_t dstPort, uint32_t* key) {
  int order = 0;
  for (int i = 0; i < 4 && order == 0; i++) {
    if (src[i] != dst[i]) order = src[i] < dst[i] ? -1 : 1;
  }
  if (order == 0) order = srcPort < dstPort ? -1 : (srcPort > dstPort ? 1 : 0);
  const bool swapped = order > 0;
  const uint32_t* a = swapped ? dst : src;
  const uint32_t* b = swapped ? src : dst;
  for (int i = 0; i < 4; i++) {
    key[i] = a[i];
    key[4 + i] = b[i];
  }
  key[8] = swapped ? ((dstPort << 16) | srcPort) : ((srcPort << 16) | dstPort);
  return swapped;
}

int32_t Describe(const uint8_t* frame, uint32_t caplen, int linkType, int32_t* out) {
  const uint32_t end = caplen;
  uint32_t offset = 0;
  uint32_t ethertype = 0;
  switch (linkType) {
    case kLinkTypeEthernet: {
      if (caplen < 14) return kTruncated;
      ethertype = U16(frame + 12);
      offset = 14;
      for (uint32_t tags = 0; IsVlan(ethertype); tags++) {
        if (tags == kMaxVlanTags) return kNotIp;
        if (offset + 4 > end) return kTruncated;
        ethertype = U16(frame + offset + 2);
        offset += 4;
      }
      break;
    }
    case kLinkTypeRaw:
    case kLinkTypeIpv4:
    case kLinkTypeIpv6: {
      if (caplen < 1) return kTruncated;
      const uint32_t version = frame[0] >> 4;
      ethertype = version == 4 ? kEthertypeIpv4 : version == 6 ? kEthertypeIpv6 : 0;
      break;
    }
    case kLinkTypeLinuxSll:
      if (caplen < 16) return kTruncated;
      ethertype = U16(frame + 14);
      offset = 16;
      break;
    case kLinkTypeLinuxSll2:
      if (caplen < 20) return kTruncated;
      ethertype = U16(frame);
      offset = 20;
      break;
    case kLinkTypeNull:
    case kLinkTypeLoop: {
      if (caplen < 4) return kTruncated;
      // NULL is in the capturing host's byte order, LOOP in network order:
      // the family values are small, so whichever end holds a nonzero value is it.
      const uint32_t be = U32(frame);
      const uint32_t family = be > 0xffff ? GetU32LE(frame) : be;
      ethertype = family == 2 ? kEthertypeIpv4
                  : (family == 10 || family == 24 || family == 28 || family == 30) ? kEthertypeIpv6
                                                                                     : 0;
      offset = 4;
      break;
    }
    default:
      return kBadLinkType;
  }

  uint32_t src[4];
  uint32_t dst[4];
  uint32_t tcp;
  int32_t flags = 0;
  if (ethertype == kEthertypeIpv4) {
    if (offset + 20 > end) return kTruncated;
    const uint8_t vihl = frame[offset];
    if (vihl >> 4 != 4) return kBadIpHeader;
    const uint32_t ihl = (vihl & 15u) * 4;
    if (ihl < 20) return kBadIpHeader;
    if (frame[offset + 9] != kIpprotoTcp) return kNotTcp;
    if ((U16(frame + offset + 6) & 0x1fff) != 0) return kFragment;  // a non-first fragment has no TCP header
    out[6] = static_cast<int32_t>(offset + 12);
    out[7] = static_cast<int32_t>(offset + 16);
    src[0] = src[1] = dst[0] = dst[1] = 0;
    src[2] = dst[2] = 0xffff;
    src[3] = U32(frame + offset + 12);
    dst[3] = U32(frame + offset + 16);
    tcp = offset + ihl;
  } else if (ethertype == kEthertypeIpv6) {
    if (offset + 40 > end) return kTruncated;
    if (frame[offset] >> 4 != 6) return kBadIpHeader;
    flags |= kFlagIpv6;
    out[6] = static_cast<int32_t>(offset + 8);
    out[7] = static_cast<int32_t>(offset + 24);
    for (int i = 0; i < 4; i++) {
      src[i] = U32(frame + offset + 8 + 4 * i);
      dst[i] = U32(frame + offset + 24 + 4 * i);
    }
    uint32_t next = frame[offset + 6];
    tcp = offset + 40;
    for (uint32_t n = 0; next != kIpprotoTcp; n++) {
      if (n == kMaxIpv6Extensions) return kBadIpHeader;
      switch (next) {
        case 0:    // hop-by-hop options
        case 43:   // routing
        case 60:   // destination options
        case 135:  // mobility
        case 139:  // host identity protocol
        case 140:  // shim6
          if (tcp + 2 > end) return kTruncated;
          next = frame[tcp];
          tcp += (uint32_t{frame[tcp + 1]} + 1) * 8;
          break;
        case 44:  // fragment
          if (tcp + 8 > end) return kTruncated;
          if ((U16(frame + tcp + 2) & 0xfff8) != 0) return kFragment;
          next = frame[tcp];
          tcp += 8;
          break;
        case 51:  // authentication header: length in 4-byte units, minus 2
          if (tcp + 2 > end) return kTruncated;
          next = frame[tcp];
          tcp += (uint32_t{frame[tcp + 1]} + 2) * 4;
          break;
        default:  // no next header, ESP, ICMPv6, UDP, ...
          return kNotTcp;
      }
    }
  } else {
    return kNotIp;
  }

  if (tcp + 20 > end) return kTruncated;
  const uint32_t tcpHeaderLength = (frame[tcp + 12] >> 4) * 4u;
  if (tcpHeaderLength < 20) return kBadTcpHeader;
  out[2] = static_cast<int32_t>(tcp);
  out[3] = static_cast<int32_t>(tcpHeaderLength);
  if ((frame[tcp + 13] & 0x12) == 0x02) flags |= kFlagOpeningSyn;
  if ((frame[tcp + 13] & 0x01) != 0) flags |= kFlagFin;
  if ((frame[tcp + 13] & 0x04) != 0) flags |= kFlagRst;
  out[5] = static_cast<int32_t>(U32(frame + tcp + 4));
  uint32_t key[9];
  if (Canonicalize(src, U16(frame + tcp), dst, U16(frame + tcp + 2), key)) flags |= kFlagSwapped;
  out[4] = flags;
  for (int i = 0; i < 9; i++) out[8 + i] = static_cast<int32_t>(key[i]);
  out[17] = HashKey(key);
  return kOk;
}

}  // namespace

void DescribeFrame(const uint8_t* frame, uint32_t caplen, int linkType, int32_t* out) {
  const int32_t status = Describe(frame, caplen, linkType, out);
  out[1] = status;
  // A frame that is not a TCP segment has only its status (Describe may have
  // filled some words before it found out).
  if (status != kOk) {
    for (int i = 2; i < kDescriptionWords; i++) out[i] = 0;
  }
}

}  // namespace ph
