// The JS thread's side of the flow store (router.h): slots, routes, and
// route(), the per-packet path.
#include "router.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "bytes.h"
#include "files.h"
#include "layout.h"

namespace ph {
namespace {

constexpr size_t kPcapRecordHeaderBytes = 16;
constexpr uint32_t kPcapMagicNanoseconds = 0xa1b23c4d;
// How many records ahead Route prefetches what the record will touch.
constexpr size_t kPrefetchAhead = 8;
constexpr size_t kLookahead = kPrefetchAhead + 1;
// A record that is a FIN or RST: the connection is ending, so the chunk will
// not grow much more. If it already holds kEarlyCompressBytes it is compressed
// now, while the flow waits for its timeout (a quarter of the memory, and
// compression spread over time instead of left for the end). Smaller chunks
// wait for the end: a member of their own would cost a short flow more bytes.
constexpr size_t kEarlyCompressBytes = 16 * 1024;
// The largest TCP header, 15 words of 4 bytes: with what comes before it, the
// bytes kept of every packet of a flow.
constexpr uint32_t kMaxTcpHeaderBytes = 60;
// How often the router reads the memory in use itself (SetMemoryInUse): once
// per this many flows started. Reading it costs more than starting a flow.
constexpr uint32_t kMemorySampleFlows = 256;

// Resident set size, as /proc/self/statm tells it (what process.memoryUsage.rss() reads); -1 unknown.
double ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  unsigned long size = 0;
  unsigned long resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return -1;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

}  // namespace

uint32_t Router::OpenSlot() {
  const int32_t serial = nextSerial_;
  nextSerial_ = serial >= 0x7fffffff ? 1 : serial + 1;
  uint32_t index;
  if (!freeSlots_.empty()) {
    index = freeSlots_.back();
    freeSlots_.pop_back();
  } else {
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[index];
  s.file = std::make_shared<FileState>(serial);
  s.chunk = Chunk();
  s.nextChunkBytes = kInitialChunkBytes;
  s.thread = nextThread_;
  nextThread_ = (nextThread_ + 1) % static_cast<uint32_t>(shared_->threads.size());
  s.headerWritten = false;
  s.open = true;
  s.route = -1;
  return index;
}

void Router::CloseSlot(uint32_t index) {
  Slot& s = slots_[index];
  if (s.route >= 0 && routes_.Valid(s.route) && routes_[s.route].slot == static_cast<int32_t>(index)) {
    routes_[s.route].slot = -1;
  }
  s.route = -1;
  s.file.reset();
  shared_->chunks->Give(std::move(s.chunk));
  s.chunk = Chunk();
  s.open = false;
  freeSlots_.push_back(index);
}

int32_t Router::Refusal() {
  if (maxFlows_ > 0 && routes_.size() >= maxFlows_) return kRefusedMaxFlows;
  if (sampleMemory_ && ++flowsSinceSample_ >= kMemorySampleFlows) {
    flowsSinceSample_ = 0;
    const double resident = ResidentBytes();
    if (resident >= 0) memoryInUse_ = resident;
  }
  if (memoryInUse_ > maxMemoryBytes_) return kRefusedMaxHeap;
  return -1;
}

bool Router::IsLocal(const int32_t* address) const {
  for (size_t i = 0; i + 4 <= localAddresses_.size(); i += 4) {
    if (std::memcmp(&localAddresses_[i], address, 4 * sizeof(int32_t)) == 0) return true;
  }
  return false;
}

// Addresses of this host are never masked, so a file still says which side was the server.
uint8_t Router::AnonymizeBits(const int32_t* key) const {
  if (!anonymize_) return 0;
  return static_cast<uint8_t>((IsLocal(key) ? 0 : kAnonymizeA) | (IsLocal(key + 4) ? 0 : kAnonymizeB));
}

int32_t Router::Start(int32_t hash, const int32_t* key, uint32_t headerLength, int32_t anonymize) {
  const int32_t refusal = Refusal();
  if (refusal >= 0) return -1 - refusal;
  const int32_t id = routes_.Add(hash, key);
  Route& r = routes_[id];
  r.anonymize = anonymize >= 0 ? static_cast<uint8_t>(anonymize & (kAnonymizeA | kAnonymizeB)) : AnonymizeBits(key);
  r.headerLength = headerLength;
  // After close() a flow has no file: its packets are missed.
  if (!closed_) {
    const uint32_t slot = OpenSlot();
    r.slot = static_cast<int32_t>(slot);
    slots_[slot].route = id;
  }
  return id;
}

void Router::NoteNewFlow(int32_t started, int32_t replaced, const int32_t* desc, const uint8_t* record, size_t index,
                         const double* clock) {
  const size_t at = newFlows_.size();
  newFlows_.resize(at + kNewFlowWords);
  double* w = &newFlows_[at];
  const int32_t slot = started >= 0 ? routes_[started].slot : -1;
  w[kNewFlowRoute] = started >= 0 ? started : -1;
  w[kNewFlowSlot] = slot;
  w[kNewFlowSerial] = slot >= 0 ? slots_[static_cast<size_t>(slot)].file->serial : 0;
  w[kNewFlowReplaced] = replaced;
  w[kNewFlowOpening] = (desc[kDFlags] & kFlagOpeningSyn) != 0 ? 1 : 0;
  w[kNewFlowSeq] = static_cast<uint32_t>(desc[kDSeq]);
  w[kNewFlowSeconds] = GetU32LE(record);
  w[kNewFlowNanoseconds] = GetU32LE(record + 4);
  w[kNewFlowRecord] = static_cast<double>(index);
  w[kNewFlowClock] = clock != nullptr ? clock[0] : -1;
  w[kNewFlowHash] = desc[kDHash];
  for (int i = 0; i < kKeyWords; i++) w[kNewFlowKey + static_cast<size_t>(i)] = desc[kDKey + i];
}

void Router::SetState(int32_t id, uint32_t state) {
  Route& r = routes_[id];
  r.state = static_cast<uint8_t>(state);
  if (stream_ && state == kStateSaving && r.slot >= 0 && !slots_[static_cast<size_t>(r.slot)].chunk.empty()) {
    List(id, r);
  }
}

void Router::End(int32_t id) {
  Route& r = routes_[id];
  if (r.slot >= 0 && static_cast<size_t>(r.slot) < slots_.size() && slots_[static_cast<size_t>(r.slot)].route == id) {
    slots_[static_cast<size_t>(r.slot)].route = -1;
  }
  routes_.Remove(id);
}

void Router::TakeSeen(uint8_t* seen) {
  for (size_t id = 0; id < routes_.capacity(); id++) {
    Route& r = routes_[static_cast<int32_t>(id)];
    seen[id] = r.used && r.sawPacket ? 1 : 0;
    r.sawPacket = false;
  }
}

void Router::FlushStreams() {
  std::vector<int32_t> listed;
  listed.swap(listed_);
  for (const int32_t id : listed) {
    if (!routes_.Valid(id)) continue;
    Route& r = routes_[id];
    if (!r.listed) continue;
    r.listed = false;
    if (r.slot >= 0 && !closed_) Seal(slots_[static_cast<size_t>(r.slot)], true);
  }
}

void Router::RouteBatch(const uint8_t* bytes, size_t end, const int32_t* described, size_t words, uint32_t linkType,
                        double* clock, const std::function<void()>& tick) {
  int64_t* tallies = tallies_.data();
  // Whatever happens, jobs queued quietly get their threads woken.
  struct WakeAtEnd {
    const std::shared_ptr<StoreShared>& shared;
    ~WakeAtEnd() {
      for (auto& th : shared->threads) th->Wake();
    }
  } wake{shared_};

  // Routes looked up ahead, valid while the table has not changed since.
  struct Lookahead {
    size_t index = SIZE_MAX;
    uint64_t generation = 0;
    int32_t id = -1;
  };
  Lookahead lookahead[kLookahead];
  for (size_t at = 0; at + kDescriptionWords <= words; at += kDescriptionWords) {
    const int32_t* desc = described + at;
    const int64_t record = desc[kDRecord];
    if (record < 0 || static_cast<size_t>(record) + kRecordHeaderBytes > end ||
        FrameBytesRead(desc, GetU32LE(bytes + record + 8)) > end - static_cast<size_t>(record) - kRecordHeaderBytes) {
      break;  // a corrupt batch
    }
    // Records go to thousands of flows, so what each one touches is usually
    // not in cache: its bucket, its route, its slot, the end of its chunk,
    // each found through the one before. Each is asked for a stage ahead of
    // its use, so that the cache misses of several records overlap instead
    // of coming one at a time: the bucket 3 x kPrefetchAhead records ahead,
    // the bucket's first route 2 x ahead, the route looked up (and its slot
    // asked for) kPrefetchAhead ahead, the end of its chunk half that.
    const size_t index = at / kDescriptionWords;
    if (at + 3 * kPrefetchAhead * kDescriptionWords < words) {
      const int32_t* far = desc + 3 * kPrefetchAhead * kDescriptionWords;
      if (far[kDStatus] == 0) __builtin_prefetch(routes_.BucketOf(far[kDHash]));
    }
    if (at + 2 * kPrefetchAhead * kDescriptionWords < words) {
      const int32_t* nearer = desc + 2 * kPrefetchAhead * kDescriptionWords;
      if (nearer[kDStatus] == 0) __builtin_prefetch(routes_.FirstOf(nearer[kDHash]));
    }
    if (at + kPrefetchAhead * kDescriptionWords < words) {
      const int32_t* ahead = desc + kPrefetchAhead * kDescriptionWords;
      Lookahead& l = lookahead[(index + kPrefetchAhead) % kLookahead];
      l.index = index + kPrefetchAhead;
      l.generation = routes_.generation();
      l.id = ahead[kDStatus] == 0 ? routes_.Find(ahead[kDHash], ahead + kDKey) : -1;
      if (l.id >= 0) PrefetchSlot(routes_[l.id].slot);
    }
    {
      const Lookahead& half = lookahead[(index + kPrefetchAhead / 2) % kLookahead];
      if (half.index == index + kPrefetchAhead / 2 && half.generation == routes_.generation() && half.id >= 0) {
        Prefetch(routes_[half.id].slot);
      }
    }
    if (clock != nullptr) {
      const double ms = GetU32LE(bytes + record) * 1000.0 + GetU32LE(bytes + record + 4) / 1e6;
      if (ms > clock[0]) clock[0] = ms;
      if (clock[0] >= clock[1]) {
        clock[1] = clock[0] + clock[2];
        tick();
      }
    }
    const int32_t status = desc[kDStatus];
    if (status != 0) {
      tallies[kTallyBad + (status > 0 && status < kStatusCount ? status : 0)]++;
      continue;
    }
    const int32_t hash = desc[kDHash];
    const int32_t flags = desc[kDFlags];
    const bool swapped = (flags & kFlagSwapped) != 0;
    const bool syn = (flags & kFlagOpeningSyn) != 0;
    const uint32_t seq = static_cast<uint32_t>(desc[kDSeq]);
    const Lookahead& l = lookahead[index % kLookahead];
    int32_t id = l.index == index && l.generation == routes_.generation() ? l.id : routes_.Find(hash, desc + kDKey);
    if (id < 0 || (syn && routes_[id].IsNewConnection(seq, swapped))) {
      // A new flow, or (the 4-tuple reused before the old flow timed out) a
      // new connection, whose SYN starts a flow of its own: the old one
      // leaves the table at once, and JS ends it when it hears of the new one.
      const int32_t replaced = id;
      if (replaced >= 0) routes_.Detach(replaced);
      id = Start(hash, desc + kDKey, 0, -1);
      if (id >= 0 || replaced >= 0) NoteNewFlow(id, replaced, desc, bytes + record, index, clock);
      if (id < 0) {
        tallies[kTallyRefused + static_cast<size_t>(-1 - id)]++;
        continue;
      }
    }
    Route& r = routes_[id];
    r.sawPacket = true;
    if (syn) r.NoteSyn(seq, swapped);
    r.packetsSeen++;
    if (!r.accepting()) {
      tallies[kTallyMissed + r.state]++;
      continue;
    }
    if (r.linkType < 0) {
      // The first packet fixes the header length: everything before TCP plus
      // the largest TCP header (IPv6 extension headers count as "before"),
      // unless openFlow fixed it; and the link type.
      if (r.headerLength == 0) r.headerLength = static_cast<uint32_t>(desc[kDTcpOffset]) + kMaxTcpHeaderBytes;
      r.linkType = static_cast<int64_t>(linkType);
    } else if (r.linkType != static_cast<int64_t>(linkType)) {
      // Not a packet this flow's file can hold.
      tallies[kTallyMissed + r.state]++;
      continue;
    }
    if (r.slot < 0) {
      // The flow's file is gone (or never was: the store was closed).
      tallies[kTallyMissed + r.state]++;
      continue;
    }
    const bool ending = (flags & (kFlagFin | kFlagRst)) != 0;
    bool maskSource = false;
    bool maskDestination = false;
    if (r.anonymize != 0) {
      // The packet's source is endpoint A unless the decoder swapped it.
      const uint8_t source = swapped ? kAnonymizeB : kAnonymizeA;
      const uint8_t destination = swapped ? kAnonymizeA : kAnonymizeB;
      maskSource = (r.anonymize & source) != 0;
      maskDestination = (r.anonymize & destination) != 0;
    }
    r.packetsSaved++;
    tallies[kTallySaved]++;
    if (closed_) continue;  // after close(): nothing is written any more
    Slot& s = slots_[static_cast<size_t>(r.slot)];
    AppendRecord(s, bytes, desc, r.headerLength, maskSource, maskDestination, linkType);
    if (ending && s.chunk.size() >= kEarlyCompressBytes) Seal(s, false);
    if (stream_ && r.state == kStateSaving) List(id, r);
  }
}

[[gnu::always_inline]] inline void Router::PrefetchSlot(int32_t slot) const {
  if (slot >= 0 && static_cast<size_t>(slot) < slots_.size()) __builtin_prefetch(&slots_[static_cast<size_t>(slot)]);
}

[[gnu::always_inline]] inline void Router::Prefetch(int32_t slot) const {
  if (slot < 0 || static_cast<size_t>(slot) >= slots_.size()) return;
  const Chunk& chunk = slots_[static_cast<size_t>(slot)].chunk;
  if (chunk.data() == nullptr) return;
  const uint8_t* end = chunk.data() + chunk.size();
  __builtin_prefetch(end, 1);
  __builtin_prefetch(end + 64, 1);
  __builtin_prefetch(end + 128, 1);
}

// Room for `bytes` more in the slot's chunk: it grows to chunkBytes_, then a new one starts.
[[gnu::always_inline]] inline void Router::Reserve(Slot& s, size_t bytes) {
  const size_t used = s.chunk.size();
  if (used + bytes <= s.chunk.capacity()) return;
  if (used > 0 && s.chunk.capacity() < chunkBytes_) {
    const size_t size = std::min(chunkBytes_, std::max(s.chunk.capacity() * 2, used + bytes));
    if (used + bytes <= size) {
      s.chunk.Grow(size);
      s.nextChunkBytes = size;
      return;
    }
  }
  Seal(s, false);
  s.chunk = shared_->chunks->Take(std::max(s.nextChunkBytes, bytes));
}

// One capture record (checked by RouteBatch to lie within the batch) as a
// pcap record of at most headerLength bytes: headers copied, every byte after
// the TCP header zero, chosen addresses masked.
[[gnu::always_inline]] inline void Router::AppendRecord(Slot& s, const uint8_t* batch, const int32_t* d,
                                                        uint32_t headerLength, bool maskSource, bool maskDestination,
                                                        uint32_t linkType) {
  const uint8_t* header = batch + d[kDRecord];
  const uint32_t caplen = GetU32LE(header + 8);
  const uint32_t included = std::min(caplen, headerLength);
  const size_t fileHeader = s.headerWritten ? 0 : kPcapHeaderBytes;
  Reserve(s, fileHeader + kPcapRecordHeaderBytes + included);
  uint8_t* out = s.chunk.Extend(fileHeader + kPcapRecordHeaderBytes + included);
  size_t at = 0;
  if (fileHeader != 0) {
    PutU32LE(out + at, kPcapMagicNanoseconds);
    out[at + 4] = 2;  // version 2.4, little-endian
    out[at + 5] = 0;
    out[at + 6] = 4;
    out[at + 7] = 0;
    PutU32LE(out + at + 8, 0);   // thiszone: timestamps are UTC
    PutU32LE(out + at + 12, 0);  // sigfigs
    PutU32LE(out + at + 16, headerLength);
    PutU32LE(out + at + 20, linkType);
    at += kPcapHeaderBytes;
    s.headerWritten = true;
  }
  // Timestamps and origlen are in pcap's layout already; only caplen changes.
  std::memcpy(out + at, header, 8);
  PutU32LE(out + at + 8, included);
  std::memcpy(out + at + 12, header + 12, 4);
  uint8_t* frame = out + at + kPcapRecordHeaderBytes;
  const size_t headers = std::min(FrameBytesRead(d, caplen), included);
  std::memcpy(frame, header + kRecordHeaderBytes, headers);
  std::memset(frame + headers, 0, included - headers);
  if (maskSource || maskDestination) {
    const bool v6 = (d[kDFlags] & kFlagIpv6) != 0;
    if (maskSource) MaskAddress(frame, included, d[kDSourceAddress], v6);
    if (maskDestination) MaskAddress(frame, included, d[kDDestinationAddress], v6);
  }
}

// Keeps an IPv4 address's /24 and an IPv6 address's /48 (src/saver/anonymize.ts).
[[gnu::always_inline]] inline void Router::MaskAddress(uint8_t* frame, size_t length, int32_t offset, bool v6) {
  const size_t size = v6 ? 16 : 4;
  if (offset < 0 || static_cast<size_t>(offset) + size > length) return;
  if (v6) {
    std::memset(frame + offset + 6, 0, 10);
  } else {
    frame[offset + 3] = 0;
  }
}

}  // namespace ph
