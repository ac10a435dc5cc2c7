// Memory for a flow's raw records before compression: filled by router.cc,
// compressed by file_jobs.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace ph {

// Raw records being collected. Unlike a vector it is never zero-filled: every
// byte of a record is written once, by AppendRecord.
class Chunk {
 public:
  Chunk() = default;
  Chunk(std::unique_ptr<uint8_t[]> bytes, size_t capacity) : bytes_(std::move(bytes)), capacity_(capacity) {}

  const uint8_t* data() const { return bytes_.get(); }
  size_t size() const { return used_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return used_ == 0; }

  // The next `n` bytes, which must fit.
  uint8_t* Extend(size_t n) {
    uint8_t* at = bytes_.get() + used_;
    used_ += n;
    return at;
  }

  void Grow(size_t capacity) {
    std::unique_ptr<uint8_t[]> bigger(new uint8_t[capacity]);
    if (used_ > 0) std::memcpy(bigger.get(), bytes_.get(), used_);
    bytes_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<uint8_t[]> Release() {
    capacity_ = 0;
    used_ = 0;
    return std::move(bytes_);
  }

 private:
  std::unique_ptr<uint8_t[]> bytes_;
  size_t capacity_ = 0;
  size_t used_ = 0;
};

// Full-size chunk memory is recycled: once compressed, a chunk's memory goes
// back to the JS thread's next full chunk instead of to malloc, which would
// hand out fresh pages (a page fault each) for every 64 KiB of records.
class ChunkPool {
 public:
  explicit ChunkPool(size_t chunkBytes) : chunkBytes_(chunkBytes) {}

  Chunk Take(size_t capacity) {
    if (capacity == chunkBytes_) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!spare_.empty()) {
        Chunk reused(std::move(spare_.back()), chunkBytes_);
        spare_.pop_back();
        return reused;
      }
    }
    return Chunk(std::unique_ptr<uint8_t[]>(new uint8_t[capacity]), capacity);
  }

  void Give(Chunk chunk) {
    if (chunk.capacity() != chunkBytes_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (spare_.size() < kMaxSpare) spare_.push_back(chunk.Release());
  }

 private:
  // At most 2 MiB of 64 KiB chunks kept spare.
  static constexpr size_t kMaxSpare = 32;
  const size_t chunkBytes_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<uint8_t[]>> spare_;
};

}  // namespace ph
