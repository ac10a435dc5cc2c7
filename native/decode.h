// Decoding of captured frames on the capture thread, so the JS thread gets,
// for every record, where its headers are and its flow key ready-made. This
// mirrors src/decode/packet.ts and src/decode/flowkey.ts exactly (same
// statuses, same key words, same hash); a unit test holds the two equal.
#pragma once

#include <cstdint>

#include "layout.h"

namespace ph {

// The description layout (kDescriptionWords, kD*, kFlag*) and the statuses are in layout.h.

// Fills out[1..17] for the frame (caplen bytes) captured on a link of the given LINKTYPE.
void DescribeFrame(const uint8_t* frame, uint32_t caplen, int linkType, int32_t* out);

}  // namespace ph
