// The routing side of the flow store: the files being filled (slots, each
// with the chunk of records it is filling), the flow table (routes.h), and
// route() (RouteBatch), which copies every record of a batch into its flow's
// chunk. Full chunks go to the store's threads (store_threads.h) to be
// compressed and written. A record of no flow starts one here, with its file,
// when the limits allow (-maxflows, -maxheap); JS hears of the flows started
// in a batch after it (takeNewFlows) and makes every decision about a flow
// from then on (its name, its state, when it ends), once per flow.
//
// Batches are routed on the JS thread (-read: route() in packet time) or on
// a live capture's thread (capture.cc), which reads, decodes and routes in
// one pass; JS calls come from the JS thread. Whoever uses a Router holds
// its mutex (recursive: a tick called back from route() calls in again).
//
// Why native: per packet, copying a record through DataViews cost the JS
// thread more than deciding where it goes, and each chunk handed to a worker
// isolate cost a structured-clone message each way plus that isolate's own
// compiler and garbage collector. Here a record is one memcpy, and a chunk is
// moved (not copied) into its thread's queue.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "chunk.h"
#include "file_jobs.h"
#include "routes.h"
#include "store_threads.h"

namespace ph {

// A flow's first chunk: a handshake, a short exchange and a close fit. Small
// because a SYN flood starts tens of thousands of flows that never grow.
constexpr size_t kInitialChunkBytes = 1024;

// The JS thread's side of an open file: the chunk being filled.
struct Slot {
  std::shared_ptr<FileState> file;
  Chunk chunk;
  // Size of the next chunk: as large as this flow has needed so far.
  size_t nextChunkBytes = kInitialChunkBytes;
  uint32_t thread = 0;
  bool headerWritten = false;
  bool open = false;
  // The route of the flow whose file this is, -1 none.
  int32_t route = -1;
};

class Router {
 public:
  // Before any other call: the store's threads (which outlive the router's
  // use of them), the largest chunk, and whether the store streams.
  void Init(std::shared_ptr<StoreShared> shared, size_t chunkBytes, bool stream) {
    shared_ = std::move(shared);
    chunkBytes_ = chunkBytes;
    stream_ = stream;
  }

  std::recursive_mutex& mutex() { return mutex_; }

  // After close() or abort(): nothing is written any more.
  bool closed() const { return closed_; }
  void MarkClosed() { closed_ = true; }

  // ---- Limits and anonymizing of the flows started here ----

  // maxFlows 0: no limit. Above maxMemoryBytes in use no flow is started.
  void SetLimits(size_t maxFlows, double maxMemoryBytes) {
    maxFlows_ = maxFlows;
    maxMemoryBytes_ = maxMemoryBytes;
  }
  // Memory in use now, as sampled by JS. With `sample`, the router also reads
  // it itself every kMemorySampleFlows flows started: a flood starts tens of
  // thousands of flows between two of JS's samples.
  void SetMemoryInUse(double bytes, bool sample) {
    memoryInUse_ = bytes;
    sampleMemory_ = sample;
  }
  // -anonymize.ip netblock: every address but these (four key words each) is masked.
  void SetAnonymization(bool enabled, std::vector<int32_t> localAddresses) {
    anonymize_ = enabled;
    localAddresses_ = std::move(localAddresses);
  }

  // A flow for `key`, which has none, with its file: its route, or -1 less
  // the reason (kRefused*) when the limits refuse it. headerLength 0: fixed
  // by the first packet; anonymize < 0: by the addresses (SetAnonymization).
  int32_t Start(int32_t hash, const int32_t* key, uint32_t headerLength, int32_t anonymize);

  bool HasNewFlows() const { return !newFlows_.empty(); }
  // The flows RouteBatch started (kNewFlowWords each) since the last call.
  void TakeNewFlows(std::vector<double>& out) {
    out.swap(newFlows_);
    newFlows_.clear();
  }
  // Adds the tallies since the last call to `out` (kTallyWords) and zeroes them.
  void TakeTallies(double* out) {
    for (size_t i = 0; i < kTallyWords; i++) out[i] += static_cast<double>(tallies_[i]);
    tallies_.fill(0);
  }

  // ---- Slots: the files being filled ----

  bool IsOpen(int64_t index) const {
    return index >= 0 && static_cast<size_t>(index) < slots_.size() && slots_[static_cast<size_t>(index)].open;
  }
  Slot& slot(int64_t index) { return slots_[static_cast<size_t>(index)]; }
  // The slot is free again; its route (if any) has no file from now on.
  void CloseSlot(uint32_t index);
  // Queues a job on the slot's thread.
  void Push(Slot& s, Job job, bool wake) {
    ++shared_->pending;
    shared_->threads[s.thread]->Push(std::move(job), wake);
  }
  // The full (or, when flushing, partial) chunk goes to compression.
  // `wake`: the thread is woken now rather than at the end of the batch.
  void Seal(Slot& s, bool wake) {
    if (s.chunk.empty()) return;
    Push(s, Job{JobKind::Compress, s.file, std::move(s.chunk), std::string(), std::string(), false}, wake);
    s.chunk = Chunk();
  }

  // ---- Routes: the flows ----

  RouteTable& routes() { return routes_; }
  // The flow's new state; in stream mode a flow that starts saving with records held is listed.
  void SetState(int32_t id, uint32_t state);
  // The flow is gone: its key finds nothing until a packet starts a new flow.
  void End(int32_t id);
  // By route, 1 where the flow saw a packet since the last call; clears them.
  void TakeSeen(uint8_t* seen);
  // Stream mode: every listed flow seals its chunk.
  void FlushStreams();

  // ---- Routing ----

  // How many bytes of a record's frame routing reads: its headers up to the
  // TCP payload (the rest is written as zeros), none of a packet it cannot
  // route. A live capture copies only these into its batch.
  static uint32_t FrameBytesRead(const int32_t* d, uint32_t caplen) {
    if (d[kDStatus] != 0) return 0;
    const int64_t payloadStart = static_cast<int64_t>(d[kDTcpOffset]) + d[kDTcpHeaderLength];
    return static_cast<uint32_t>(std::clamp<int64_t>(payloadStart, 0, caplen));
  }

  // Every record of a batch (`end` bytes) described in `described` (`words`
  // words), in order, to its flow's chunk; see route() in flowstore_napi.cc.
  // `clock` is null outside packet-time mode; `tick` is called when it is
  // due, before the record that made it due.
  void RouteBatch(const uint8_t* bytes, size_t end, const int32_t* described, size_t words, uint32_t linkType,
                  double* clock, const std::function<void()>& tick);

 private:
  // A slot for a new file, pinned to the next thread in turn.
  uint32_t OpenSlot();
  // -1 when a flow may start, else the kRefused* reason.
  int32_t Refusal();
  uint8_t AnonymizeBits(const int32_t* key) const;
  bool IsLocal(const int32_t* address) const;
  // For takeNewFlows: the flow `started` (or -1 less a refusal) at the record
  // described by `desc`, number `index` of its batch, and the flow it replaced.
  void NoteNewFlow(int32_t started, int32_t replaced, const int32_t* desc, const uint8_t* record, size_t index,
                   const double* clock);
  // The per-packet helpers of RouteBatch, defined in router.cc only, and
  // always inlined into its loop (as they were when the store was one file,
  // where the compiler inlined them by itself).
  inline void PrefetchSlot(int32_t slot) const;
  // The end of the slot's chunk, for prefetching.
  inline void Prefetch(int32_t slot) const;
  // Stream mode: the flow is flushed at the next flushStreams().
  void List(int32_t id, Route& r) {
    if (r.listed) return;
    r.listed = true;
    listed_.push_back(id);
  }
  inline void Reserve(Slot& s, size_t bytes);
  inline void AppendRecord(Slot& s, const uint8_t* batch, const int32_t* d,
                           uint32_t headerLength, bool maskSource, bool maskDestination, uint32_t linkType);
  static inline void MaskAddress(uint8_t* frame, size_t length, int32_t offset, bool v6);

  std::recursive_mutex mutex_;
  std::shared_ptr<StoreShared> shared_;
  size_t chunkBytes_ = 64 * 1024;
  bool stream_ = false;
  bool closed_ = false;
  RouteTable routes_;
  // Stream mode: flows that stored records while saving since the last flushStreams().
  std::vector<int32_t> listed_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> freeSlots_;
  uint32_t nextThread_ = 0;
  int32_t nextSerial_ = 1;
  std::vector<double> newFlows_;
  std::array<int64_t, kTallyWords> tallies_{};
  size_t maxFlows_ = 0;
  double maxMemoryBytes_ = std::numeric_limits<double>::infinity();
  double memoryInUse_ = 0;
  bool sampleMemory_ = false;
  uint32_t flowsSinceSample_ = 0;
  bool anonymize_ = false;
  std::vector<int32_t> localAddresses_;
};

}  // namespace ph
