// libFuzzer target for the frame decoder that the capture thread runs
// (decode.cc, DescribeFrame). The first input byte picks the link type, the
// rest is the frame, in a heap block of exactly its length, so AddressSanitizer
// sees any read past the captured bytes (in the addon, frames sit inside
// libpcap's larger buffer, where such a read goes unnoticed). Besides the
// sanitizers, it checks what the flow store relies on: a TCP segment's
// addresses and fixed TCP header lie within the captured bytes.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "../decode.h"

namespace {

// Every LINKTYPE the decoder knows, and two it does not (802.11, USER0).
constexpr int kLinkTypes[] = {ph::kLinkTypeNull,  ph::kLinkTypeEthernet, ph::kLinkTypeRaw,      ph::kLinkTypeLoop,
                              ph::kLinkTypeLinuxSll, ph::kLinkTypeIpv4, ph::kLinkTypeIpv6, ph::kLinkTypeLinuxSll2,
                              105, 147};

void Require(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int linkType = kLinkTypes[data[0] % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
  const size_t caplen = size - 1;
  // Its own allocation, so the end of the frame is the end of the block.
  uint8_t* frame = static_cast<uint8_t*>(malloc(caplen == 0 ? 1 : caplen));
  if (caplen > 0) memcpy(frame, data + 1, caplen);
  int32_t out[ph::kDescriptionWords];
  memset(out, 0x5a, sizeof out);
  ph::DescribeFrame(frame, static_cast<uint32_t>(caplen), linkType, out);
  if (out[1] == 0) {
    const uint32_t tcp = static_cast<uint32_t>(out[ph::kDTcpOffset]);
    const uint32_t addressBytes = (out[ph::kDFlags] & ph::kFlagIpv6) != 0 ? 16 : 4;
    Require(tcp + 20 <= caplen);
    Require(out[ph::kDTcpHeaderLength] >= 20 && out[ph::kDTcpHeaderLength] <= 60);
    Require(static_cast<uint32_t>(out[ph::kDSourceAddress]) + addressBytes <= tcp);
    Require(static_cast<uint32_t>(out[ph::kDDestinationAddress]) + addressBytes <= tcp);
  } else {
    for (int i = 2; i < ph::kDescriptionWords; i++) Require(out[i] == 0);
  }
  free(frame);
  return 0;
}
