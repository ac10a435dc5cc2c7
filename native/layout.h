// Every number that the addon and the TypeScript side must agree on: the
// layout of what crosses between them (batches, descriptions, tallies,
// events, socket records) and the values both give meaning to (decode
// statuses, flow states, anonymize bits, link types). Its TypeScript twin is
// src/native/layout.ts; module.cc exports these as the addon's `layout`
// object, and loadAddon() (src/native/addon.ts) refuses an addon whose
// layout differs from the TypeScript one. Nothing here is written twice in
// C++: each constant's users include this header.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ph {

// ---- Capture batches ----

// A capture record's header: u32 LE seconds, u32 LE nanoseconds, u32 LE
// caplen, u32 LE origlen; caplen bytes of frame follow (README.md, Batch format).
constexpr size_t kRecordHeaderBytes = 16;

// ---- Record descriptions (decode.cc, one per record after a batch's records) ----

// Int32 words per record description:
//   0 record offset in the batch | 1 status (0 = TCP segment, else a bad status) |
//   2 TCP header offset in the frame | 3 TCP header length |
//   4 flags (kFlag* bits) | 5 TCP sequence number | 6 source address offset |
//   7 destination address offset | 8..16 flow key (9 words) | 17 flow key hash
// Words 2..17 are meaningful only when the status is 0.
constexpr int kDescriptionWords = 18;

// Word indices of a description.
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
constexpr int32_t kFlagSwapped = 1;      // travels from key endpoint B to A
constexpr int32_t kFlagIpv6 = 2;         // an IPv6 packet
constexpr int32_t kFlagOpeningSyn = 4;   // SYN without ACK
constexpr int32_t kFlagFin = 8;          // FIN set
constexpr int32_t kFlagRst = 16;         // RST set

// Decode statuses (the description's status word; src/decode/packet.ts).
enum Status : int32_t {
  kOk = 0,
  kTruncated = 1,
  kBadLinkType = 2,
  kNotIp = 3,
  kBadIpHeader = 4,
  kNotTcp = 5,
  kFragment = 6,
  kBadTcpHeader = 7,
};
constexpr int32_t kStatusCount = 8;

// LINKTYPE_ values (as in pcap file headers) that the decoder understands.
constexpr int kLinkTypeNull = 0;          // BSD loopback, address family in host byte order
constexpr int kLinkTypeEthernet = 1;
constexpr int kLinkTypeRaw = 101;         // bare IPv4 or IPv6
constexpr int kLinkTypeLoop = 108;        // OpenBSD loopback, address family in network byte order
constexpr int kLinkTypeLinuxSll = 113;    // Linux cooked capture v1
constexpr int kLinkTypeIpv4 = 228;
constexpr int kLinkTypeIpv6 = 229;
constexpr int kLinkTypeLinuxSll2 = 276;   // Linux cooked capture v2

// ---- Flow store routes (routes.h) ----

// Flow states, as src/demux/flow.ts SaverState: only the first two take packets.
constexpr uint8_t kStateUuidWait = 0;
constexpr uint8_t kStateSaving = 1;
constexpr uint8_t kStateCount = 5;

// Anonymize bits of a route: mask the address of the flow key's endpoint A, or B.
constexpr uint8_t kAnonymizeA = 1;
constexpr uint8_t kAnonymizeB = 2;

// Words of route()'s tallies: records saved, then records not wanted by flow
// state (kStateCount words), then records that did not decode by status,
// then flows not started (a record of each dropped) by refusal.
constexpr size_t kTallySaved = 0;
constexpr size_t kTallyMissed = 1;
constexpr size_t kTallyBad = kTallyMissed + kStateCount;
constexpr size_t kTallyRefused = kTallyBad + kStatusCount;
constexpr size_t kTallyWords = kTallyRefused + 2;
// Why a flow was not started: -maxflows flows are open, or memory in use is
// above the shedding threshold (-maxheap). Also openFlow's refusals, negated less one.
constexpr int32_t kRefusedMaxFlows = 0;
constexpr int32_t kRefusedMaxHeap = 1;

// ---- Flows the router started (takeNewFlows) ----

// Words (doubles) of each: its route, slot and file serial (-1 when none was
// started: refused, or only the end of the flow it replaces), the route of
// the flow whose 4-tuple it took with a new connection's SYN (-1 none), 1
// when its first packet is a connection-opening SYN, that packet's sequence
// number, timestamp (seconds, nanoseconds) and record number in its batch,
// packet time then (ms, packet-time mode; else -1), the key's hash and its
// nine key words.
constexpr size_t kNewFlowRoute = 0;
constexpr size_t kNewFlowSlot = 1;
constexpr size_t kNewFlowSerial = 2;
constexpr size_t kNewFlowReplaced = 3;
constexpr size_t kNewFlowOpening = 4;
constexpr size_t kNewFlowSeq = 5;
constexpr size_t kNewFlowSeconds = 6;
constexpr size_t kNewFlowNanoseconds = 7;
constexpr size_t kNewFlowRecord = 8;
constexpr size_t kNewFlowClock = 9;
constexpr size_t kNewFlowHash = 10;
constexpr size_t kNewFlowKey = 11;
constexpr size_t kNewFlowWords = kNewFlowKey + 9;

// ---- Flow store events (takeEvents) ----

// Event words: kind, file serial, then two kind-specific words (a, b).
constexpr int kEventWords = 4;
constexpr int32_t kEventFinished = 0;  // a: a kFinished* result
constexpr int32_t kEventFailed = 1;    // a: a kStage*, b: errno
// The file's name was taken: it was published as <UUID>.N.pcap.gz (a: N).
// A file once published is never written again (docs/output.md).
constexpr int32_t kEventNumbered = 2;
// How a finish ended.
constexpr int32_t kFinishedWritten = 0;
constexpr int32_t kFinishedEmpty = 1;
constexpr int32_t kFinishedFailed = 2;
// Where a file failed.
constexpr int32_t kStageCompress = 0;
constexpr int32_t kStageWrite = 1;

// ---- Socket diagnostics (sockdiag.cc; README.md has the record layout) ----

constexpr size_t kSocketRecordBytes = 48;
// A lookup query: address A | address B (16 bytes each) | u16 LE port A | u16 LE port B.
constexpr size_t kSocketQueryBytes = 36;

}  // namespace ph
