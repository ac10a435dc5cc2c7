// The flow table: every flow the flow store routes packets to (router.cc
// RouteBatch), by key, with what routing a packet to it needs to know. The
// router starts a flow at its first packet (or when JS names a connection
// before its packets come) and JS ends it; in between, every per-packet
// change (packets seen and saved, the opening SYN, the header length fixed
// by the first packet, seen since the last sweep) happens here, and the
// per-flow decisions JS makes (state, naming the file, its end) come down
// once per flow. JS keeps no table of its own: it knows flows by route.
//
// Keys are the nine words of src/decode/flowkey.ts, hashed by the decoder
// (the description's hash word); routes with the same bucket are chained.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "layout.h"

namespace ph {

constexpr int kKeyWords = 9;

// The flow states (kState*) and anonymize bits (kAnonymize*) of a route are in layout.h.

struct Route {
  int32_t key[kKeyWords];
  int32_t hash = 0;
  // Next route in the same bucket, -1 at the end.
  int32_t next = -1;
  // The flow's file (a FlowStore slot), -1 once it is finished or discarded.
  int32_t slot = -1;
  // Bytes kept of each packet: 0 until the first packet fixes it, unless JS fixed it.
  uint32_t headerLength = 0;
  // LINKTYPE_ of the flow's packets, -1 until the first packet fixes it.
  int64_t linkType = -1;
  // The flow's first connection-opening SYN: sequence number, -1 none yet.
  int64_t synSeq = -1;
  double packetsSeen = 0;
  double packetsSaved = 0;
  uint8_t state = kStateUuidWait;
  uint8_t anonymize = 0;
  bool synSwapped = false;
  // Set by every packet, cleared by every sweep (TakeSeen).
  bool sawPacket = true;
  // Stream mode: on the list of flows to flush at the next flush.
  bool listed = false;
  bool used = false;
  // Out of the table (a new connection took its 4-tuple), but JS has not
  // ended it yet: no packet finds it, its counts still answer.
  bool detached = false;

  bool accepting() const { return state == kStateUuidWait || state == kStateSaving; }

  // FlowSaver.isNewConnection of old: whether a connection-opening SYN belongs
  // to a new connection on this 4-tuple rather than to this one: the flow has
  // packets already, and the SYN is not a retransmission of its own opening
  // SYN (same sequence number) nor the other end's SYN of a simultaneous open.
  bool IsNewConnection(uint32_t seq, bool swapped) const {
    if (packetsSeen == 0) return false;
    if (synSeq < 0) return true;
    return swapped == synSwapped && static_cast<int64_t>(seq) != synSeq;
  }

  // Remembers the flow's opening SYN (the first one only).
  void NoteSyn(uint32_t seq, bool swapped) {
    if (synSeq >= 0) return;
    synSeq = seq;
    synSwapped = swapped;
  }
};

class RouteTable {
 public:
  // Changes with every Add, Detach and Remove: a lookup made before is stale after.
  uint64_t generation() const { return generation_; }
  // Flows in the table (not detached ones).
  size_t size() const { return count_; }
  // Route ids are below this.
  size_t capacity() const { return routes_.size(); }

  bool Valid(int64_t id) const { return id >= 0 && static_cast<size_t>(id) < routes_.size() && routes_[id].used; }
  Route& operator[](int32_t id) { return routes_[static_cast<size_t>(id)]; }
  const Route& operator[](int32_t id) const { return routes_[static_cast<size_t>(id)]; }

  int32_t Find(int32_t hash, const int32_t* key) const {
    if (buckets_.empty()) return -1;
    for (int32_t id = buckets_[static_cast<uint32_t>(hash) & mask_]; id >= 0;) {
      const Route& r = routes_[static_cast<size_t>(id)];
      if (r.hash == hash && std::memcmp(r.key, key, sizeof r.key) == 0) return id;
      id = r.next;
    }
    return -1;
  }

  // Where the bucket of `hash` is, for prefetching.
  const int32_t* BucketOf(int32_t hash) const {
    return buckets_.empty() ? nullptr : &buckets_[static_cast<uint32_t>(hash) & mask_];
  }

  // The first route of the bucket of `hash` (usually the one Find returns), for prefetching; null none.
  const Route* FirstOf(int32_t hash) const {
    if (buckets_.empty()) return nullptr;
    const int32_t id = buckets_[static_cast<uint32_t>(hash) & mask_];
    return id < 0 ? nullptr : &routes_[static_cast<size_t>(id)];
  }

  // A new route for `key` (which must not have one), in the state of a flow just started.
  int32_t Add(int32_t hash, const int32_t* key) {
    if ((count_ + 1) * 2 > buckets_.size()) Rehash(buckets_.empty() ? 1024 : buckets_.size() * 2);
    int32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = static_cast<int32_t>(routes_.size());
      routes_.emplace_back();
    }
    Route& r = routes_[static_cast<size_t>(id)];
    r = Route();
    std::memcpy(r.key, key, sizeof r.key);
    r.hash = hash;
    r.used = true;
    int32_t& head = buckets_[static_cast<uint32_t>(hash) & mask_];
    r.next = head;
    head = id;
    count_++;
    generation_++;
    return id;
  }

  // Out of the table, the id kept until Remove.
  void Detach(int32_t id) {
    Route& r = routes_[static_cast<size_t>(id)];
    if (r.detached) return;
    Unlink(id);
    r.detached = true;
    count_--;
    generation_++;
  }

  void Remove(int32_t id) {
    Route& r = routes_[static_cast<size_t>(id)];
    if (!r.detached) {
      Unlink(id);
      count_--;
    }
    r.used = false;
    r.listed = false;
    r.detached = false;
    r.next = -1;
    free_.push_back(id);
    generation_++;
  }

 private:
  void Unlink(int32_t id) {
    Route& r = routes_[static_cast<size_t>(id)];
    for (int32_t* link = &buckets_[static_cast<uint32_t>(r.hash) & mask_]; *link >= 0;
         link = &routes_[static_cast<size_t>(*link)].next) {
      if (*link == id) {
        *link = r.next;
        break;
      }
    }
    r.next = -1;
  }

  void Rehash(size_t buckets) {
    buckets_.assign(buckets, -1);
    mask_ = static_cast<uint32_t>(buckets - 1);
    for (size_t id = 0; id < routes_.size(); id++) {
      Route& r = routes_[id];
      if (!r.used || r.detached) continue;
      int32_t& head = buckets_[static_cast<uint32_t>(r.hash) & mask_];
      r.next = head;
      head = static_cast<int32_t>(id);
    }
  }

  std::vector<Route> routes_;
  std::vector<int32_t> free_;
  std::vector<int32_t> buckets_;
  uint32_t mask_ = 0;
  size_t count_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace ph
