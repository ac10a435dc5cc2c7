// One libpcap handle (live interface or pcap file) with the state that must be
// shared between the JS thread and the capture thread. Nothing here knows about
// N-API: failures are reported as CaptureError and turned into JS errors by the
// caller.
#pragma once

#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace ph {

// A failure an operator can act on (no such device, permission, bad filter,
// unreadable file). The message names the device or file.
class CaptureError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr int32_t kFanoutNone = -1;
constexpr int32_t kFanoutNew = -2;

struct OpenOptions {
  bool offline = false;
  std::string source;  // interface name, or file path when offline
  std::string name;    // what messages call the source; empty: source (a -read file's own name for its decompressed copy)
  uint32_t snaplen = 0;
  uint32_t bufferSize = 32u << 20;  // live only
  uint32_t timeoutMs = 50;          // live only
  // Offline only: bytes read from the file at a time (libpcap's own open
  // reads through stdio's 4 KiB: 46,000 read calls for a 185 MB capture).
  uint32_t readBufferBytes = 256u << 10;
  std::string filter;               // empty: no filter
  // Live only: join a PACKET_FANOUT group that spreads the interface's packets
  // over several handles by a symmetric flow hash (both directions of a flow
  // to one handle). kFanoutNone: no group; kFanoutNew: a new group, whose id
  // fanoutGroup() then gives; else the id of a group to join.
  int32_t fanout = kFanoutNone;
};

struct StatsSnapshot {
  uint64_t received = 0;
  uint64_t dropped = 0;
  uint64_t ifDropped = 0;
};

// Thread rules:
//  - Dispatch, Next, SetNonBlocking, SampleStats and Close are called
//    by the capture thread only (libpcap handles are not thread safe).
//  - RequestStop and Stats may be called from any thread; RequestStop is the
//    only call that touches the pcap_t from another thread (pcap_breakloop is
//    documented to be callable that way), and it is serialized with Close and
//    SetNonBlocking by a mutex so it never sees a closed or changing handle.
class PcapHandle {
 public:
  // Throws CaptureError.
  static std::shared_ptr<PcapHandle> Open(const OpenOptions& options);
  ~PcapHandle();
  PcapHandle(const PcapHandle&) = delete;
  PcapHandle& operator=(const PcapHandle&) = delete;

  bool offline() const { return options_.offline; }
  uint32_t snaplen() const { return options_.snaplen; }
  uint32_t timeoutMs() const { return options_.timeoutMs; }
  // LINKTYPE_ value for pcap file headers (not libpcap's DLT_ value).
  int linkType() const { return linkType_; }
  // Whether libpcap hands out nanoseconds in tv_usec (else microseconds).
  bool nanoTimestamps() const { return nano_; }
  // The PACKET_FANOUT group this handle is in, -1 none.
  int32_t fanoutGroup() const { return fanoutGroup_; }
  // Joined an existing fanout group: packets stamped before this (seconds,
  // nanoseconds since the epoch) reached this handle before it joined, and the
  // group's first handle has them too. Zero otherwise.
  int64_t joinedAtNs() const { return joinedAtNs_; }

  // --- capture thread ---
  // pcap_dispatch(handle, -1, ...); returns its result. Must not be called after Close.
  int Dispatch(pcap_handler callback, u_char* user);
  // Offline: pcap_next_ex; returns its result (1 a packet, PCAP_ERROR_BREAK at the end of the
  // file, PCAP_ERROR). The packet stays valid until the next read of this handle.
  int Next(pcap_pkthdr** header, const u_char** data);
  std::string LastError() const;
  // Live: waits at most timeoutMs for packets to read (a ring block handed over);
  // false when none came. pcap_breakloop does not cut the wait short.
  bool WaitForPackets(int timeoutMs);
  // Live only: switches to non-blocking reads (used to drain the ring at stop). Returns success.
  bool SetNonBlocking();
  // Live: pcap_stats into the atomics. Offline: no-op (OfflineMerge counts each file's packets).
  void SampleStats();
  // pcap_close; idempotent.
  void Close();

  // --- any thread ---
  // Sets the stop flag and wakes the capture thread with pcap_breakloop.
  void RequestStop();
  bool StopRequested() const { return stopRequested_.load(std::memory_order_acquire); }
  StatsSnapshot Stats() const;

 private:
  PcapHandle(pcap_t* pcap, const OpenOptions& options);
  // Throws CaptureError.
  void JoinFanout(int32_t group);

  // Offline: the file's read buffer, freed after the destructor's pcap_close.
  std::unique_ptr<char[]> readBuffer_;
  pcap_t* pcap_;               // guarded by mutex_ for cross-thread use; nullptr once closed
  mutable std::mutex mutex_;
  const OpenOptions options_;
  int linkType_;
  bool nano_;
  int32_t fanoutGroup_ = -1;
  int64_t joinedAtNs_ = 0;
  std::atomic<bool> stopRequested_{false};

  // Counters kept as 64 bits: libpcap's are u_int and wrap after 2^32 packets,
  // which a long-running daemon on a busy link reaches. We add the u32 deltas.
  std::atomic<uint64_t> received_{0}, dropped_{0}, ifDropped_{0};
  unsigned lastRecv_ = 0, lastDrop_ = 0, lastIfDrop_ = 0;
};

}  // namespace ph
