// The JS thread's side of the flow store: the files being filled (slots, each
// with the chunk of records it is filling), the flows' routes (routes.h), and
// route() (RouteBatch), which copies every record of a batch into its flow's
// chunk. Full chunks go to the store's threads (store_threads.h) to be compressed and
// written. JS keeps every decision (which flow a packet belongs to, how much
// of it to keep, which addresses to mask, when a file is named, finished or
// dropped); route() asks it through the callbacks given to setRouter, at the
// record concerned, so every flow's records stay in capture order.
//
// Why native: per packet, copying a record through DataViews cost the JS
// thread more than deciding where it goes, and each chunk handed to a worker
// isolate cost a structured-clone message each way plus that isolate's own
// compiler and garbage collector. Here a record is one memcpy, and a chunk is
// moved (not copied) into its thread's queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <napi.h>

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
  void Init(StoreShared* shared, size_t chunkBytes, bool stream) {
    shared_ = shared;
    chunkBytes_ = chunkBytes;
    stream_ = stream;
  }

  // After close() or abort(): nothing is written any more.
  bool closed() const { return closed_; }
  void MarkClosed() { closed_ = true; }

  // ---- Slots: the files being filled ----

  // A slot for a new file named `serial` in events, pinned to the next thread in turn.
  uint32_t Open(int32_t serial);
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

  // ---- Routes: the flows the demuxer has ----

  RouteTable& routes() { return routes_; }
  // A route for a flow just started, to the file in `slot` (-1 none); see bindFlow.
  int32_t Bind(int64_t slot, const int32_t* key, int32_t hash, uint32_t anonymize, uint32_t headerLength);
  // The flow's new state; in stream mode a flow that starts saving with records held is listed.
  void SetState(int32_t id, uint32_t state);
  void Unbind(int32_t id);
  // By route, 1 where the flow saw a packet since the last call; clears them.
  void TakeSeen(uint8_t* seen);
  // Stream mode: every listed flow seals its chunk.
  void FlushStreams();

  // ---- Routing ----

  // setRouter's callbacks, held weakly.
  void SetCallbacks(Napi::Function onFlow, Napi::Function onTick) {
    onFlow_ = Napi::Weak(onFlow);
    onTick_ = Napi::Weak(onTick);
  }
  bool HasCallbacks() const { return !onFlow_.IsEmpty() && !onFlow_.Value().IsEmpty(); }

  // Every record of a batch (`end` bytes) described in `described` (`words`
  // words), in order, to its flow's chunk; see route() in flowstore_napi.cc.
  // `tallies` has kTallyBad + `statuses` words; `clock` is null outside
  // packet-time mode.
  void RouteBatch(Napi::Env env, const uint8_t* bytes, size_t end, const int32_t* described, size_t words,
                  uint32_t linkType, int32_t* tallies, size_t statuses, double* clock);

 private:
  // The per-packet helpers of RouteBatch, defined in router.cc only, and
  // always inlined into its loop (as they were when the store was one file,
  // where the compiler inlined them by itself).
  inline void Prefetch(int32_t slot) const;
  // Stream mode: the flow is flushed at the next flushStreams().
  void List(int32_t id, Route& r) {
    if (r.listed) return;
    r.listed = true;
    listed_.push_back(id);
  }
  inline void Reserve(Slot& s, size_t bytes);
  inline void AppendRecord(Napi::Env env, Slot& s, const uint8_t* batch, size_t batchLength, const int32_t* d,
                           uint32_t headerLength, bool maskSource, bool maskDestination, uint32_t linkType);
  static inline void MaskAddress(uint8_t* frame, size_t length, int32_t offset, bool v6);

  StoreShared* shared_ = nullptr;
  size_t chunkBytes_ = 64 * 1024;
  bool stream_ = false;
  bool closed_ = false;
  RouteTable routes_;
  // Stream mode: flows that stored records while saving since the last flushStreams().
  std::vector<int32_t> listed_;
  Napi::FunctionReference onFlow_;
  Napi::FunctionReference onTick_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> freeSlots_;
  uint32_t nextThread_ = 0;
};

}  // namespace ph
