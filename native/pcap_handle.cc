#include "pcap_handle.h"

#include <linux/if_packet.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace ph {
namespace {

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapPtr = std::unique_ptr<pcap_t, PcapCloser>;

// pcap_datalink() returns DLT_ values; pcap files carry LINKTYPE_ values. They
// are equal except for a few DLT values that differ between operating
// systems. On Linux the one that matters is DLT_RAW (12; 14 on OpenBSD), whose
// file value is LINKTYPE_RAW = 101; DLT_ATM_CLIP (19 on Linux) is LINKTYPE 106.
int DltToLinkType(int dlt) {
  switch (dlt) {
    case 12:  // DLT_RAW
    case 14:  // DLT_RAW on OpenBSD
      return 101;
    case 19:  // DLT_ATM_CLIP (Linux)
      return 106;
    default:
      return dlt;
  }
}

std::string Describe(const OpenOptions& o) {
  const std::string& name = o.name.empty() ? o.source : o.name;
  return o.offline ? "file \"" + name + "\"" : "interface \"" + name + "\"";
}

void ApplyFilter(pcap_t* p, const OpenOptions& o) {
  if (o.filter.empty()) return;
  bpf_program program{};
  // The netmask only matters for "ip broadcast" filters, which we do not use.
  if (pcap_compile(p, &program, o.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    throw CaptureError("invalid capture filter \"" + o.filter + "\" for " + Describe(o) + ": " + pcap_geterr(p));
  }
  int rc = pcap_setfilter(p, &program);
  pcap_freecode(&program);
  if (rc != 0) {
    throw CaptureError("cannot set capture filter \"" + o.filter + "\" on " + Describe(o) + ": " + pcap_geterr(p));
  }
}

PcapPtr OpenLive(const OpenOptions& o) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  PcapPtr p(pcap_create(o.source.c_str(), errbuf));
  if (!p) throw CaptureError("cannot open " + Describe(o) + ": " + errbuf);

  // We only keep headers: snaplen is small, so the ring holds many packets.
  pcap_set_snaplen(p.get(), static_cast<int>(o.snaplen));
  // Only this host's own traffic is wanted, never other hosts' frames.
  pcap_set_promisc(p.get(), 0);
  // A large ring absorbs bursts and short stalls of the JS thread.
  pcap_set_buffer_size(p.get(), static_cast<int>(o.bufferSize));
  // Not immediate mode: with TPACKET_V3 the kernel fills whole blocks and wakes
  // us once per block or per timeout, so one wakeup carries many packets. The
  // timeout bounds the latency of a batch on a quiet link.
  pcap_set_timeout(p.get(), static_cast<int>(o.timeoutMs));
  // Nanosecond stamps when the kernel offers them; otherwise we convert the
  // microseconds ourselves so batches are always nanoseconds.
  (void)pcap_set_tstamp_precision(p.get(), PCAP_TSTAMP_PRECISION_NANO);

  int rc = pcap_activate(p.get());
  if (rc < 0) {
    // For generic errors pcap_geterr has the whole story; for the specific
    // codes (no such device, permission denied, ...) it may add detail.
    std::string detail = pcap_geterr(p.get());
    std::string message = rc == PCAP_ERROR ? detail : std::string(pcap_statustostr(rc));
    if (rc != PCAP_ERROR && !detail.empty() && detail != message) message += " (" + detail + ")";
    throw CaptureError("cannot capture on " + Describe(o) + ": " + message);
  }
  // rc > 0 is a warning (e.g. promiscuous mode not supported): capture works.
  return p;
}

// `*buffer` becomes the file's read buffer, which must outlive the handle.
PcapPtr OpenOffline(const OpenOptions& o, std::unique_ptr<char[]>* buffer) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  FILE* file = nullptr;
  if (o.source != "-") {  // standard input is opened by libpcap, as it reads it
    file = std::fopen(o.source.c_str(), "rb");
    if (file == nullptr) {
      // The words libpcap's own open would have used.
      throw CaptureError("cannot read " + Describe(o) + ": " + o.source + ": " + std::strerror(errno));
    }
    // glibc takes the size only with a buffer: given none, it makes its own of 4 KiB.
    buffer->reset(new char[o.readBufferBytes]);
    std::setvbuf(file, buffer->get(), _IOFBF, o.readBufferBytes);
  }
  // libpcap scales microsecond files to nanoseconds when asked for nano.
  PcapPtr p(file != nullptr ? pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf)
                            : pcap_open_offline_with_tstamp_precision(o.source.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf));
  if (!p) {
    if (file != nullptr) std::fclose(file);  // on failure libpcap leaves the file to its opener; pcap_close closes it otherwise
    throw CaptureError("cannot read " + Describe(o) + ": " + errbuf);
  }
  return p;
}

}  // namespace

std::shared_ptr<PcapHandle> PcapHandle::Open(const OpenOptions& options) {
  std::unique_ptr<char[]> readBuffer;  // declared first: it goes after the handle
  PcapPtr p = options.offline ? OpenOffline(options, &readBuffer) : OpenLive(options);
  ApplyFilter(p.get(), options);
  std::shared_ptr<PcapHandle> handle(new PcapHandle(p.release(), options));
  handle->readBuffer_ = std::move(readBuffer);
  if (!options.offline && options.fanout != kFanoutNone) handle->JoinFanout(options.fanout);
  return handle;
}

// After the filter is set, so that every handle of the group filters alike.
// PACKET_FANOUT_HASH spreads packets by the kernel's symmetric flow hash;
// FLAG_DEFRAG hashes a fragmented datagram once it is whole (here that only
// keeps IPv4 fragments of one packet together); a new group's id is chosen by
// the kernel (FLAG_UNIQUEID), so it never joins another process's group.
void PcapHandle::JoinFanout(int32_t group) {
  const int fd = pcap_fileno(pcap_);
  const uint32_t flags = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG | (group == kFanoutNew ? PACKET_FANOUT_FLAG_UNIQUEID : 0);
  const uint32_t arg = (group == kFanoutNew ? 0u : static_cast<uint32_t>(group) & 0xffffu) | (flags << 16);
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
    const int error = errno;
    throw CaptureError("cannot spread " + Describe(options_) + " over capture threads (PACKET_FANOUT): " + std::strerror(error));
  }
  uint32_t joined = 0;
  socklen_t size = sizeof joined;
  if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &joined, &size) != 0) {
    const int error = errno;
    throw CaptureError("cannot read the capture threads' group of " + Describe(options_) + " (PACKET_FANOUT): " + std::strerror(error));
  }
  fanoutGroup_ = static_cast<int32_t>(joined & 0xffffu);
  if (group != kFanoutNew) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    joinedAtNs_ = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
  }
}

PcapHandle::PcapHandle(pcap_t* pcap, const OpenOptions& options)
    : pcap_(pcap),
      options_(options),
      linkType_(DltToLinkType(pcap_datalink(pcap))),
      nano_(pcap_get_tstamp_precision(pcap) == PCAP_TSTAMP_PRECISION_NANO) {}

PcapHandle::~PcapHandle() { Close(); }

int PcapHandle::Dispatch(pcap_handler callback, u_char* user) {
  // No lock: only the capture thread uses or closes the handle, and the lock is
  // only there to keep RequestStop away from Close/SetNonBlocking. Holding it
  // here would make pcap_breakloop wait for the very dispatch it must wake.
  return pcap_dispatch(pcap_, -1, callback, user);
}

int PcapHandle::Next(pcap_pkthdr** header, const u_char** data) { return pcap_next_ex(pcap_, header, data); }

std::string PcapHandle::LastError() const { return pcap_ != nullptr ? pcap_geterr(pcap_) : "handle closed"; }

bool PcapHandle::WaitForPackets(int timeoutMs) {
  const int fd = pcap_get_selectable_fd(pcap_);
  if (fd < 0) return true;  // no descriptor to wait on: let a dispatch decide
  pollfd p{fd, POLLIN, 0};
  // An error or a signal: true, so that the dispatch that follows reports it.
  return poll(&p, 1, timeoutMs) != 0;
}

bool PcapHandle::SetNonBlocking() {
  // In libpcap 1.10 on Linux this closes the eventfd pcap_breakloop writes to,
  // so it must not run concurrently with RequestStop.
  std::lock_guard<std::mutex> lock(mutex_);
  char errbuf[PCAP_ERRBUF_SIZE];
  return pcap_ != nullptr && pcap_setnonblock(pcap_, 1, errbuf) == 0;
}

void PcapHandle::SampleStats() {
  if (options_.offline || pcap_ == nullptr) return;
  pcap_stat s{};
  if (pcap_stats(pcap_, &s) != 0) return;
  // Unsigned subtraction gives the right delta across a 2^32 wrap.
  received_.fetch_add(static_cast<unsigned>(s.ps_recv - lastRecv_), std::memory_order_relaxed);
  dropped_.fetch_add(static_cast<unsigned>(s.ps_drop - lastDrop_), std::memory_order_relaxed);
  ifDropped_.fetch_add(static_cast<unsigned>(s.ps_ifdrop - lastIfDrop_), std::memory_order_relaxed);
  lastRecv_ = s.ps_recv;
  lastDrop_ = s.ps_drop;
  lastIfDrop_ = s.ps_ifdrop;
}

void PcapHandle::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pcap_ != nullptr) {
    pcap_close(pcap_);
    pcap_ = nullptr;
  }
}

void PcapHandle::RequestStop() {
  // Only the first request breaks the loop: the capture thread then drains in
  // non-blocking mode, and a second pcap_breakloop would only cut that short.
  if (stopRequested_.exchange(true, std::memory_order_acq_rel)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (pcap_ != nullptr) pcap_breakloop(pcap_);
}

StatsSnapshot PcapHandle::Stats() const {
  return StatsSnapshot{received_.load(std::memory_order_relaxed), dropped_.load(std::memory_order_relaxed),
                       ifDropped_.load(std::memory_order_relaxed)};
}

}  // namespace ph
