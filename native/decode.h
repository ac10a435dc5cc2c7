// Decoding of captured frames on the capture thread, so the JS thread gets,
// for every record, where its headers are and its flow key ready-made. This
// mirrors src/decode/packet.ts and src/decode/flowkey.ts exactly (same
// statuses, same key words, same hash); a unit test holds the two equal.
#pragma once

#include <cstdint>

namespace ph {

// Int32 words per record description:
//   0 record offset in the batch | 1 status (0 = TCP segment, else BAD_*) |
//   2 TCP header offset in the frame | 3 TCP header length |
//   4 flags (1 = swapped: travels from key endpoint B to A, 2 = IPv6, 4 = opening SYN: SYN without ACK,
//     8 = FIN, 16 = RST) |
//   5 TCP sequence number | 6 source address offset | 7 destination address offset |
//   8..16 flow key (9 words) | 17 flow key hash
// Words 2..17 are meaningful only when the status is 0.
constexpr int kDescriptionWords = 18;

// Word indices of a description (those used outside decode.cc).
constexpr int kDRecord = 0;
constexpr int kDStatus = 1;
constexpr int kDTcpOffset = 2;
constexpr int kDTcpHeaderLength = 3;
constexpr int kDFlags = 4;
constexpr int kDSeq = 5;
constexpr int kDSourceAddress = 6;
constexpr int kDDestinationAddress = 7;
constexpr int kDKey = 8;
constexpr int kDHash = 17;

// Bits of the flags word.
constexpr int32_t kFlagSwapped = 1;
constexpr int32_t kFlagIpv6 = 2;
constexpr int32_t kFlagOpeningSyn = 4;
constexpr int32_t kFlagFin = 8;
constexpr int32_t kFlagRst = 16;

// Fills out[1..17] for the frame (caplen bytes) captured on a link of the given LINKTYPE.
void DescribeFrame(const uint8_t* frame, uint32_t caplen, int linkType, int32_t* out);

}  // namespace ph
