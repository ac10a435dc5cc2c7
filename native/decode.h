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

// Fills out[1..17] for the frame (caplen bytes) captured on a link of the given LINKTYPE.
void DescribeFrame(const uint8_t* frame, uint32_t caplen, int linkType, int32_t* out);

}  // namespace ph
