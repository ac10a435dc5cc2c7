// The flow store's threads (store_threads.h): each waits for jobs on its
// queue and runs them (file_jobs.cc) one at a time, in the order queued.
#include "store_threads.h"

#include <pthread.h>

namespace ph {

void StoreShared::StopThreads() {
  for (auto& t : threads) t->Stop();
}

void StoreThread::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

void StoreThread::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    *pending_ -= static_cast<int64_t>(queue_.size());
    queue_.clear();
  }
  wake_.notify_one();
}

void StoreThread::Run() {
  // Named for top -H and the benchmark's per-thread figures.
  pthread_setname_np(pthread_self(), "ph-store");
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stopping_ && queue_.empty()) {
        waiting_ = true;
        wake_.wait(lock);
      }
      waiting_ = false;
      if (stopping_) {
        stopped_ = true;
        return;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    jobs_.Run(job);
    --*pending_;
    bool idle;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle = queue_.empty();
    }
    jobs_.AfterJob(idle);
  }
}

}  // namespace ph
