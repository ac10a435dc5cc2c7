// Several capture files read as one capture in timestamp order, as mergecap
// does: each file keeps one pending packet, and the earliest of them comes
// next (equal timestamps: the file given first). Rotated pieces of a capture
// (tcpdump -G, editcap -c) then give the packets of the whole capture, and
// captures of different days do not push each other's packet time around.
// Nothing here knows about N-API.
#pragma once

#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pcap_handle.h"

namespace ph {

struct OfflineInputSpec {
  std::string path;  // what libpcap opens
  std::string name;  // what messages call it (the -read argument); empty: path
};

// How one input ended: packets read (after the filter), and libpcap's message
// when it stopped at an error (a truncated or damaged file) instead of its end.
struct OfflineInputEnd {
  uint64_t packets = 0;
  bool failed = false;
  std::string error;
};

struct MergedPacket {
  const pcap_pkthdr* header;
  const u_char* data;
  uint32_t input;
  int linkType;
  bool nanoseconds;  // tv_usec holds nanoseconds (else microseconds)
};

// Thread rules: Next and Close on the capture thread only (or on the JS thread
// when no thread was started); RequestStop, StopRequested and Packets from any thread.
class OfflineMerge {
 public:
  // Opens every input with the filter and reads its first packet; throws
  // CaptureError naming the first input that cannot be opened or from which
  // not one packet can be read (those already opened are closed).
  static std::shared_ptr<OfflineMerge> Open(const std::vector<OfflineInputSpec>& inputs, uint32_t snaplen,
                                            const std::string& filter);
  OfflineMerge(const OfflineMerge&) = delete;
  OfflineMerge& operator=(const OfflineMerge&) = delete;

  size_t size() const { return inputs_.size(); }
  uint32_t snaplen() const { return snaplen_; }
  // LINKTYPE_ value of an input.
  int linkType(size_t input) const { return inputs_[input].handle->linkType(); }

  // --- capture thread ---
  // The next packet of the merged capture; false once every input is done or
  // a stop was requested. The packet stays valid until the next call. An
  // input that fails is done from then on; the others go on.
  bool Next(MergedPacket* out);
  // How each input ended (complete once Next has returned false at the end of every input).
  std::vector<OfflineInputEnd> Ends() const;
  // Every pcap_close; idempotent.
  void Close();

  // --- any thread ---
  void RequestStop() { stopRequested_.store(true, std::memory_order_release); }
  bool StopRequested() const { return stopRequested_.load(std::memory_order_acquire); }
  // Packets handed out so far, per input.
  std::vector<uint64_t> Packets() const;

 private:
  struct Input {
    std::shared_ptr<PcapHandle> handle;
    pcap_pkthdr* header = nullptr;  // the pending packet, valid while pending
    const u_char* data = nullptr;
    bool failed = false;
    std::string error;
    std::unique_ptr<std::atomic<uint64_t>> packets = std::make_unique<std::atomic<uint64_t>>(0);
  };

  OfflineMerge(std::vector<Input> inputs, uint32_t snaplen);
  // Reads the input's next packet into its pending slot and queues it; at the
  // end of the file or an error the input is done.
  void Advance(uint32_t input);
  // Orders the heap: the earliest pending packet first, ties to the lower input.
  bool Later(uint32_t a, uint32_t b) const;
  void Push(uint32_t input);
  uint32_t Pop();

  std::vector<Input> inputs_;
  const uint32_t snaplen_;
  // Inputs with a pending packet, a heap (std::push_heap and pop_heap with Later) whose front is the earliest.
  std::vector<uint32_t> heap_;
  // The input whose packet Next returned last: read on at the next call, so that
  // packet stays valid until then. -1: none.
  int64_t taken_ = -1;
  bool closed_ = false;
  std::atomic<bool> stopRequested_{false};
};

}  // namespace ph
