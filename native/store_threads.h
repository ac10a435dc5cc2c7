// The flow store's threads: `threads` of them, each with its queue of jobs
// on the files pinned to it (file_jobs.h), and the outbox through which their
// results reach JS as events (layout.h kEvent*).
//
// Results travel back as events (int32 words) through one thread-safe
// function (TSFN), which the N-API class (flowstore_napi.cc) references only
// while a finish is outstanding: an idle store never keeps the process
// alive, a pending file always does.
//
// Lifetime: the threads only touch StoreShared (held by shared_ptr) and the
// TSFN. Node frees a TSFN when it is finalized, which happens after Release()
// or at environment teardown, whichever comes first; its finalizer therefore
// stops and joins the threads first, so no thread ever calls into a freed TSFN.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <napi.h>

#include "chunk.h"
#include "file_jobs.h"

namespace ph {

class StoreThread;

// What the JS thread, the store threads and the TSFN finalizer share.
struct StoreShared {
  std::mutex mutex;
  std::vector<int32_t> events;
  Napi::ThreadSafeFunction tsfn;
  bool tsfnFinalized = false;  // JS thread only
  std::atomic<int64_t> pending{0};
  std::unique_ptr<ChunkPool> chunks;
  std::vector<std::unique_ptr<StoreThread>> threads;

  void StopThreads();

  // An event for JS: kind, the file's serial, two words of the kind.
  void Post(int32_t kind, int32_t serial, int32_t a, int32_t b) {
    bool wasEmpty;
    {
      std::lock_guard<std::mutex> lock(mutex);
      wasEmpty = events.empty();
      events.insert(events.end(), {kind, serial, a, b});
    }
    // One wake-up per batch of events: JS takes all of them at once.
    if (wasEmpty) tsfn.NonBlockingCall();
  }
};

class StoreThread {
 public:
  // `shared` outlives the thread: StopThreads joins it before StoreShared goes.
  StoreThread(StoreShared* shared, int level, mode_t fileMode, mode_t dirMode, bool sync, std::string stagingDir)
      : pending_(&shared->pending),
        jobs_(shared, shared->chunks.get(), level, fileMode, dirMode, sync, std::move(stagingDir)) {}

  void Start() { thread_ = std::thread(&StoreThread::Run, this); }

  // Queues a job. The thread is woken only with `wake`: waking a thread costs
  // the JS thread a scheduler call, so the jobs of one batch are queued
  // quietly and the thread is woken once, by Wake(), at the end.
  void Push(Job job, bool wake) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(job));
      if (!wake || !waiting_) return;
      waiting_ = false;
    }
    wake_.notify_one();
  }

  // Wakes the thread if it sleeps with jobs queued.
  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!waiting_ || queue_.empty()) return;
      waiting_ = false;
    }
    wake_.notify_one();
  }

  // Ends the thread after the job it is running; queued jobs are dropped.
  void Stop();

  // As Stop, without waiting: Stopped() says when the thread is done.
  void RequestStop();

  bool Stopped() const { return !thread_.joinable() || stopped_.load(); }

 private:
  void Run();

  std::atomic<int64_t>* const pending_;
  FileJobs jobs_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool waiting_ = false;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

}  // namespace ph
