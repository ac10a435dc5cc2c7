#include "offline_merge.h"

#include <algorithm>
#include <utility>

namespace ph {

std::shared_ptr<OfflineMerge> OfflineMerge::Open(const std::vector<OfflineInputSpec>& specs, uint32_t snaplen,
                                                 const std::string& filter) {
  std::vector<Input> inputs;
  inputs.reserve(specs.size());
  // Every file is open at once: their read buffers share 16 MiB, between
  // stdio's 4 KiB and 256 KiB each.
  const size_t share = (size_t{16} << 20) / std::max<size_t>(1, specs.size());
  const uint32_t readBufferBytes = static_cast<uint32_t>(std::clamp<size_t>(share, size_t{4} << 10, size_t{256} << 10));
  for (const OfflineInputSpec& spec : specs) {
    OpenOptions options;
    options.offline = true;
    options.source = spec.path;
    options.name = spec.name;
    options.snaplen = snaplen;
    options.filter = filter;
    options.readBufferBytes = readBufferBytes;
    Input input;
    input.handle = PcapHandle::Open(options);  // throws; the handles opened so far close with `inputs`
    inputs.push_back(std::move(input));
  }
  std::shared_ptr<OfflineMerge> merge(new OfflineMerge(std::move(inputs), snaplen));
  // Each file's first packet is read now, so that a file from which not one
  // packet can be read (a header and then garbage, or a record cut short) is
  // a start-up error like a file that is no capture at all, before anything is
  // written. A file with no packet at all is fine. (With a filter this reads
  // on to the first packet that passes it.) The capture thread reads on from
  // here: it is started after this returns.
  for (uint32_t i = 0; i < merge->inputs_.size(); i++) {
    merge->Advance(i);
    const Input& input = merge->inputs_[i];
    if (input.failed) {
      const std::string& name = specs[i].name.empty() ? specs[i].path : specs[i].name;
      throw CaptureError("cannot read file \"" + name + "\": no packet can be read from it: " + input.error);
    }
  }
  return merge;
}

OfflineMerge::OfflineMerge(std::vector<Input> inputs, uint32_t snaplen) : inputs_(std::move(inputs)), snaplen_(snaplen) {
  heap_.reserve(inputs_.size());
}

bool OfflineMerge::Next(MergedPacket* out) {
  if (closed_ || StopRequested()) return false;
  if (taken_ >= 0) Advance(static_cast<uint32_t>(taken_));
  taken_ = -1;
  if (heap_.empty()) return false;
  const uint32_t i = Pop();
  Input& input = inputs_[i];
  input.packets->fetch_add(1, std::memory_order_relaxed);
  out->header = input.header;
  out->data = input.data;
  out->input = i;
  out->linkType = input.handle->linkType();
  out->nanoseconds = input.handle->nanoTimestamps();
  taken_ = i;
  return true;
}

void OfflineMerge::Advance(uint32_t i) {
  Input& input = inputs_[i];
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = input.handle->Next(&header, &data);
  if (rc == 1) {
    input.header = header;
    input.data = data;
    Push(i);
    return;
  }
  // PCAP_ERROR_BREAK is the end of the file (nothing calls pcap_breakloop on
  // these handles); PCAP_ERROR is a truncated or unreadable record, after
  // which libpcap cannot find the next one.
  if (rc != PCAP_ERROR_BREAK) {
    input.failed = true;
    input.error = input.handle->LastError();
  }
  input.header = nullptr;
  input.data = nullptr;
}

bool OfflineMerge::Later(uint32_t a, uint32_t b) const {
  const timeval& ta = inputs_[a].header->ts;
  const timeval& tb = inputs_[b].header->ts;
  if (ta.tv_sec != tb.tv_sec) return ta.tv_sec > tb.tv_sec;
  // Every file is opened for nanoseconds, which libpcap gives for files; scaled anyway, in case.
  const int64_t na = inputs_[a].handle->nanoTimestamps() ? ta.tv_usec : int64_t{ta.tv_usec} * 1000;
  const int64_t nb = inputs_[b].handle->nanoTimestamps() ? tb.tv_usec : int64_t{tb.tv_usec} * 1000;
  if (na != nb) return na > nb;
  return a > b;
}

// std's heap algorithms keep the element no other is "less" than in front;
// with Later as "less", that is the earliest pending packet.
void OfflineMerge::Push(uint32_t input) {
  heap_.push_back(input);
  std::push_heap(heap_.begin(), heap_.end(), [this](uint32_t a, uint32_t b) { return Later(a, b); });
}

uint32_t OfflineMerge::Pop() {
  std::pop_heap(heap_.begin(), heap_.end(), [this](uint32_t a, uint32_t b) { return Later(a, b); });
  const uint32_t earliest = heap_.back();
  heap_.pop_back();
  return earliest;
}

std::vector<OfflineInputEnd> OfflineMerge::Ends() const {
  std::vector<OfflineInputEnd> ends;
  ends.reserve(inputs_.size());
  for (const Input& input : inputs_) {
    ends.push_back(OfflineInputEnd{input.packets->load(std::memory_order_relaxed), input.failed, input.error});
  }
  return ends;
}

std::vector<uint64_t> OfflineMerge::Packets() const {
  std::vector<uint64_t> packets;
  packets.reserve(inputs_.size());
  for (const Input& input : inputs_) packets.push_back(input.packets->load(std::memory_order_relaxed));
  return packets;
}

void OfflineMerge::Close() {
  closed_ = true;
  for (Input& input : inputs_) {
    input.header = nullptr;
    input.data = nullptr;
    input.handle->Close();
  }
  heap_.clear();
}

}  // namespace ph
