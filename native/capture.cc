// Capture thread and its hand-over to JS: batches of decoded records, or
// (a live capture given a flow store) nothing but word that flows started,
// the thread routing each batch into the store itself.
//
// Ownership and lifetime (the part that matters for not crashing):
//  - PcapHandle is shared (std::shared_ptr) by the JS object and the session,
//    so either may go first.
//  - A Session exists from start() until the thread-safe function (TSFN) is
//    finalized. The TSFN finalizer runs on the JS thread after the capture
//    thread's Release() — or, at environment teardown (worker exit), while the
//    thread may still run; the finalizer therefore always stops and joins the
//    thread before deleting the session. Node deletes the TSFN only after its
//    finalizer returns, so the thread never calls into a freed TSFN.
//  - process.exit() does not finalize anything: it calls exit(3) while the
//    thread may be inside pcap_dispatch or BlockingCall. That is safe because
//    nothing the thread touches is a static object with a destructor (the
//    session and handle are on the heap and are simply never freed).
#include "capture.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "bytes.h"
#include "decode.h"
#include "flowstore.h"
#include "layout.h"
#include "offline_merge.h"
#include "options.h"
#include "pcap_handle.h"
#include "router.h"

namespace ph {
namespace {

constexpr size_t kDescriptionBytes = kDescriptionWords * sizeof(int32_t);
// Batches are handed over once records and their descriptions take this much
// (offline, one dispatch reads the whole file; live, a full ring), or live
// when a dispatch returns and the batch's first record waited kMaxBatchAge.
constexpr size_t kFlushBytes = 1u << 20;
// A dispatch returns per ring block (256 KiB, some 800 packets): handing each
// over woke the JS thread 125 times a second at 100k packets/s, and each
// wake-up of an otherwise idle core starts with cold caches. A batch of a few
// blocks brings the cost per packet at 100k packets/s near that at top speed
// (1.41-1.32 against 1.77-1.55 µs, 2026-12-02); packets wait 20 ms more at most.
constexpr auto kMaxBatchAge = std::chrono::milliseconds(20);
// Bounded so that a slow JS thread blocks the capture thread (BlockingCall):
// offline reading slows down, live capture lets the kernel drop and count it,
// instead of queueing without limit.
constexpr size_t kMaxQueuedBatches = 16;
// Spare batches kept per capture for reuse (see BatchPool).
constexpr size_t kMaxSpareBatches = 8;
// The longest a hold() keeps the capture thread from handing over a batch, in
// case JS never releases it: a live capture must not stall on a lost release.
constexpr auto kMaxHold = std::chrono::milliseconds(100);

// A batch as delivered: the records, zero padding to a multiple of 4 bytes,
// then one description per record (decode.h), so that JS reads the
// descriptions through an Int32Array over the same memory.
using Batch = std::vector<uint8_t>;

// Batch memory is recycled. A batch grown from small to 1 MiB was copied on
// every doubling, and a fresh one page-faults on every page it fills: at a few
// hundred thousand packets per second that cost as much CPU as reading them.
// A batch is reserved once at its largest size (a record never crosses
// kFlushBytes by more than one record) and handed back here by the Buffer's
// finalizer, which runs at the next turn of the loop after onBatch returns,
// since Deliver detaches the Buffer then. Shared with those finalizers, which may run after the
// capture has ended.
class BatchPool {
 public:
  explicit BatchPool(size_t capacity) : capacity_(capacity) {}

  std::unique_ptr<Batch> Take() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!spare_.empty()) {
        std::unique_ptr<Batch> batch = std::move(spare_.back());
        spare_.pop_back();
        return batch;
      }
    }
    auto batch = std::make_unique<Batch>();
    batch->reserve(capacity_);
    return batch;
  }

  void Give(std::unique_ptr<Batch> batch) {
    batch->clear();
    std::lock_guard<std::mutex> lock(mutex_);
    if (spare_.size() < kMaxSpareBatches) spare_.push_back(std::move(batch));
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Batch>> spare_;
};

// Lets JS make the capture thread wait before handing over its next batch.
// Node's thread-safe function delivers queued batches back to back for as
// long as the queue is not empty (up to 1,000 per event-loop turn), so a
// capture thread that reads faster than JS consumes (any offline read, a
// saturated live capture) keeps the JS thread from ever returning to its
// event loop: no timer, signal, metrics scrape or worker reply is handled.
// JS holds the gate once it has spent long enough on batches in one turn; the
// queue then empties, the loop turns, and JS releases the gate.
class DeliveryGate {
 public:
  void Hold() {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ = true;
  }

  void Open() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held_ = false;
    }
    opened_.notify_all();
  }

  // Capture thread: returns once the gate is open, or after kMaxHold.
  void WaitWhileHeld() {
    std::unique_lock<std::mutex> lock(mutex_);
    opened_.wait_for(lock, kMaxHold, [this] { return !held_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool held_ = false;
};

// What a delivered Buffer owns: its batch, and the pool to return it to.
struct LentBatch {
  std::unique_ptr<Batch> batch;
  std::shared_ptr<BatchPool> pool;
};

// What the capture thread sends to the JS thread: a batch, word that the
// store's router started flows, or the end.
struct FlowsStarted {};
struct Message {
  explicit Message(FlowsStarted) : flowsStarted(true) {}
  Message(std::unique_ptr<Batch> b, uint32_t r, int l, std::vector<int32_t> i)
      : batch(std::move(b)), recordsBytes(r), linkType(l), inputs(std::move(i)) {}
  Message(bool f, std::string e, bool o, std::vector<OfflineInputEnd> n)
      : failed(f), error(std::move(e)), offline(o), ends(std::move(n)) {}

  std::unique_ptr<Batch> batch;  // null for the end message
  bool flowsStarted = false;
  uint32_t recordsBytes = 0;     // where the records end and their (padded) descriptions begin
  int linkType = 0;              // of every record of the batch
  // Merged files: which input the records came from, as pairs (index of the
  // first record of a run, input), one pair per run of records from one input.
  std::vector<int32_t> inputs;
  bool failed = false;           // end message: error holds libpcap's message
  std::string error;
  bool offline = false;          // end message: ends holds how each input ended
  std::vector<OfflineInputEnd> ends;
};

class Session;
void CallJs(Napi::Env env, Napi::Function unused, Session* session, Message* message);
using Tsfn = Napi::TypedThreadSafeFunction<Session, Message, CallJs>;

class Session {
 public:
  // Exactly one of live and offline.
  // With `router` (live only), batches are routed here, not handed over.
  Session(std::shared_ptr<PcapHandle> live, std::shared_ptr<OfflineMerge> offline, std::shared_ptr<DeliveryGate> gate,
          Napi::Function onBatch, Napi::Function onEnd, std::shared_ptr<Router> router)
      : live_(std::move(live)),
        offline_(std::move(offline)),
        snaplen_(live_ ? live_->snaplen() : offline_->snaplen()),
        trackInputs_(offline_ && offline_->size() > 1),
        gate_(std::move(gate)),
        onBatch_(Napi::Persistent(onBatch)),
        onEnd_(Napi::Persistent(onEnd)),
        pool_(std::make_shared<BatchPool>(kFlushBytes + kRecordHeaderBytes + snaplen_ + 3 + kDescriptionBytes)),
        router_(std::move(router)),
        batch_(pool_->Take()),
        skipBeforeNs_(live_ ? live_->joinedAtNs() : 0) {
    // Records and descriptions together stay under kFlushBytes (plus one of each).
    described_.reserve(kFlushBytes / sizeof(int32_t) + kDescriptionWords);
  }

  // JS thread. Throws Napi::Error if the thread cannot be started.
  void Start(Napi::Env env) {
    // No JS function is bound to the TSFN: CallJs picks onBatch or onEnd.
    // The TSFN is ref'ed, which keeps the event loop (the process) alive
    // until the thread releases it after the end message.
    tsfn_ = Tsfn::New(env, "packet-headers capture", kMaxQueuedBatches, 1, this,
                      [](Napi::Env, void*, Session* self) { self->Finalize(); });
    try {
      thread_ = std::thread(&Session::Run, this);
    } catch (const std::system_error& e) {
      CloseSource();
      tsfn_.Release();  // finalizer deletes the session
      throw Napi::Error::New(env, std::string("cannot start capture thread: ") + e.what());
    }
  }

  // JS thread, from CallJs.
  void Deliver(Napi::Env env, Message& message) {
    if (message.flowsStarted) {
      // Cleared first: flows started while JS takes these announce themselves again.
      flowsAnnounced_.store(false, std::memory_order_release);
      onBatch_.Call({env.Undefined()});
    } else if (message.batch) {
      // Hand the vector's memory to the Buffer without copying; the finalizer
      // returns it to the pool when the Buffer is collected. (NewOrCopy copies,
      // and runs the finalizer at once, only in runtimes that forbid external buffers.)
      const uint32_t recordsBytes = message.recordsBytes;
      auto* lent = new LentBatch{std::move(message.batch), pool_};
      auto buffer = Napi::Buffer<uint8_t>::NewOrCopy(env, lent->batch->data(), lent->batch->size(),
                                                     [](Napi::Env, uint8_t*, LentBatch* l) {
                                                       l->pool->Give(std::move(l->batch));
                                                       delete l;
                                                     },
                                                     lent);
      Napi::Value inputs = env.Undefined();
      if (!message.inputs.empty()) {
        const size_t bytes = message.inputs.size() * sizeof(int32_t);
        Napi::ArrayBuffer memory = Napi::ArrayBuffer::New(env, bytes);
        std::memcpy(memory.Data(), message.inputs.data(), bytes);
        inputs = Napi::Int32Array::New(env, message.inputs.size(), memory, 0);
      }
      onBatch_.Call({buffer, Napi::Number::New(env, recordsBytes), Napi::Number::New(env, message.linkType), inputs});
      // A batch is valid only during onBatch (the flow store copies what it
      // keeps). Detached, its memory goes back to the pool at once (the next
      // turn of the loop) instead of at the garbage collection that finds the
      // Buffer: with few JS allocations that came so late that the capture
      // thread page-faulted fresh batches in, most of its CPU at 100k pps.
      // A view kept by mistake then reads as empty, never as reused memory.
      buffer.ArrayBuffer().Detach();
    } else {
      Napi::Value error = message.failed ? Napi::String::New(env, message.error) : env.Null();
      Napi::Value ends = env.Undefined();
      if (message.offline) {
        Napi::Array list = Napi::Array::New(env, message.ends.size());
        for (uint32_t i = 0; i < message.ends.size(); i++) {
          const OfflineInputEnd& end = message.ends[i];
          Napi::Object o = Napi::Object::New(env);
          o.Set("packets", Napi::Number::New(env, static_cast<double>(end.packets)));
          o.Set("error", end.failed ? Napi::Value(Napi::String::New(env, end.error)) : env.Null());
          list.Set(i, o);
        }
        ends = list;
      }
      onEnd_.Call({error, ends});
    }
  }

 private:
  // JS thread: the TSFN is going away (thread released it, or env teardown).
  void Finalize() {
    // Normally the thread has finished already. At environment teardown it may
    // still be capturing: make it quit at once (no drain, no more batches).
    finalizing_.store(true, std::memory_order_release);
    RequestStop();
    gate_->Open();
    if (thread_.joinable()) thread_.join();
    delete this;
  }

  void RequestStop() {
    if (live_) live_->RequestStop();
    else offline_->RequestStop();
  }

  void CloseSource() {
    if (live_) live_->Close();
    else offline_->Close();
  }

  // Capture thread.
  void Run() {
    // Named for top -H and the benchmark's per-thread figures.
    pthread_setname_np(pthread_self(), "ph-capture");
    if (live_) RunLive();
    else RunOffline();
  }

  void RunLive() {
    bool failed = false;
    std::string error;
    while (!live_->StopRequested() && !jsGone_) {
      if (!batch_->empty()) {
        // A dispatch blocks until the kernel hands over a ring block, and with
        // TPACKET_V3 none comes while no packet does: a batch kept for more
        // must not wait longer than kMaxBatchAge for them.
        const auto age = std::chrono::steady_clock::now() - batchStartedAt_;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBatchAge - age).count();
        if (left <= 0 || !live_->WaitForPackets(static_cast<int>(left))) {
          if (!Flush()) break;
          continue;
        }
      }
      int n = live_->Dispatch(&Session::OnPacket, reinterpret_cast<u_char*>(this));
      if (n == PCAP_ERROR) {
        // Packets read before the error are already in the batch and are
        // delivered before onEnd reports it.
        failed = true;
        error = live_->LastError();
        break;
      }
      // PCAP_ERROR_BREAK: stop() or our own breakloop; the loop condition decides.
      // Routed here, each dispatch's records (a ring block) go to their flows at once.
      if ((router_ || std::chrono::steady_clock::now() - batchStartedAt_ >= kMaxBatchAge) && !Flush()) break;
      // After every dispatch (one getsockopt; a dispatch returns once per
      // 256 KiB block of the ring, or per read timeout), since the next one
      // may block for as long as no packet comes: read once a second, the
      // counters stayed short of the files by what came after the last
      // reading, up to a second of packets. pcap_stats is not safe against a
      // concurrent dispatch, so only this thread calls it; stats() reads the
      // atomics it fills.
      live_->SampleStats();
    }

    if (!failed && !jsGone_ && !finalizing_.load(std::memory_order_acquire)) Drain();
    Flush();
    live_->SampleStats();  // the final counters, before onEnd
    End(new Message(failed, error, false, {}));
  }

  // The files, merged by timestamp (offline_merge.h). An input that fails
  // (truncated, damaged) ends there; the others are read on, and onEnd gets
  // how each one ended.
  void RunOffline() {
    MergedPacket packet;
    while (!jsGone_ && offline_->Next(&packet)) {
      if (!Append(packet.header, packet.data, packet.linkType, packet.nanoseconds, packet.input)) break;
    }
    Flush();
    std::vector<OfflineInputEnd> ends = offline_->Ends();
    bool failed = false;
    std::string error;
    for (const OfflineInputEnd& end : ends) {
      if (!end.failed) continue;
      failed = true;
      error = end.error;  // the first one: for a single file, libpcap's message as it is
      break;
    }
    End(new Message(failed, error, true, std::move(ends)));
  }

  // Capture thread: queues onEnd, closes the source and lets the TSFN go.
  void End(Message* end) {
    if (jsGone_ || tsfn_.BlockingCall(end) != napi_ok) delete end;
    // Closed after queueing onEnd: pcap_close of a live handle takes 20-30 ms
    // (the kernel waits for an RCU grace period when the packet socket goes),
    // which need not delay onEnd. The TSFN, released only after, keeps the
    // process alive until the handle is really closed.
    CloseSource();
    // After this the finalizer may run; it joins us, so `this` stays valid
    // until we return, but nothing below may touch the TSFN.
    tsfn_.Release();
  }

  // Capture thread, after stop(). With TPACKET_V3 the kernel only hands over
  // a ring block when it is full or its retire timer fires (every timeoutMs;
  // a block opened between two ticks retires at the second). Packets the
  // kernel already captured may sit in the open block, so we keep reading,
  // non-blocking, for two timeouts. This is what makes stop() take about
  // 2 x timeoutMs, and what keeps the last packets of flows (FIN/RST).
  void Drain() {
    if (!live_->SetNonBlocking()) return;
    const auto window = std::chrono::milliseconds(2 * static_cast<int64_t>(live_->timeoutMs()) + 10);
    const auto deadline = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(window, std::chrono::seconds(3));
    for (;;) {
      int n = live_->Dispatch(&Session::OnPacket, reinterpret_cast<u_char*>(this));
      if (n == PCAP_ERROR || !Flush() || std::chrono::steady_clock::now() >= deadline) return;
      if (finalizing_.load(std::memory_order_acquire)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  // Capture thread: hands the current batch to JS (blocking while 16 are
  // queued). Returns false once JS can no longer take batches (teardown).
  bool Flush() {
    if (jsGone_) return false;
    if (batch_->empty()) return true;
    if (router_) return RouteHere();
    const uint32_t recordsBytes = static_cast<uint32_t>(batch_->size());
    batch_->resize((recordsBytes + 3) & ~3u, 0);
    const auto* described = reinterpret_cast<const uint8_t*>(described_.data());
    batch_->insert(batch_->end(), described, described + described_.size() * sizeof(int32_t));
    described_.clear();
    auto* message = new Message(std::move(batch_), recordsBytes, batchLinkType_, std::move(inputs_));
    inputs_.clear();
    batch_ = pool_->Take();
    if (!finalizing_.load(std::memory_order_acquire)) gate_->WaitWhileHeld();
    if (tsfn_.BlockingCall(message) != napi_ok) {
      delete message;
      jsGone_ = true;
      return false;
    }
    return true;
  }

  // Capture thread: routes the current batch into the store (no copy for JS,
  // no turn of its event loop), and tells JS when flows started, once until
  // it has taken them.
  bool RouteHere() {
    bool started;
    {
      const std::lock_guard<std::recursive_mutex> lock(router_->mutex());
      router_->RouteBatch(batch_->data(), batch_->size(), described_.data(), described_.size(),
                          static_cast<uint32_t>(batchLinkType_), nullptr, [] {});
      started = router_->HasNewFlows();
    }
    batch_->clear();
    described_.clear();
    if (started && !flowsAnnounced_.exchange(true, std::memory_order_acq_rel)) {
      auto* message = new Message(FlowsStarted{});
      if (tsfn_.NonBlockingCall(message) != napi_ok) {
        // The queue is full (or JS is going): the next batch tries again.
        delete message;
        flowsAnnounced_.store(false, std::memory_order_release);
      }
    }
    return true;
  }

  // Capture thread, inside pcap_dispatch.
  static void OnPacket(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
    auto* self = reinterpret_cast<Session*>(user);
    if (self->jsGone_) return;
    if (self->skipBeforeNs_ != 0) {
      // Came before this handle joined its fanout group: the group's first handle has it.
      const int64_t ns = static_cast<int64_t>(h->ts.tv_sec) * 1000000000 +
                         (self->live_->nanoTimestamps() ? h->ts.tv_usec : static_cast<int64_t>(h->ts.tv_usec) * 1000);
      if (ns < self->skipBeforeNs_) return;
      self->skipBeforeNs_ = 0;
    }
    if (!self->Append(h, bytes, self->live_->linkType(), self->live_->nanoTimestamps(), 0)) {
      // JS is gone: make pcap_dispatch return instead of reading on.
      self->live_->RequestStop();
    }
  }

  // Capture thread: copies one packet into the batch and describes it. A batch
  // holds one link type, so a packet of another (merged files of different
  // links) first hands the batch over. Returns false once JS is gone.
  bool Append(const pcap_pkthdr* h, const u_char* bytes, int linkType, bool nanoseconds, uint32_t input) {
    if (linkType != batchLinkType_) {
      if (!Flush()) return false;
      batchLinkType_ = linkType;
    }
    // Live handles are already cut to snaplen by the kernel; files are not.
    const uint32_t caplen = std::min<uint32_t>(h->caplen, snaplen_);
    const uint32_t nsec = nanoseconds ? static_cast<uint32_t>(h->ts.tv_usec) : static_cast<uint32_t>(h->ts.tv_usec) * 1000u;
    uint8_t header[kRecordHeaderBytes];
    PutU32LE(header, static_cast<uint32_t>(h->ts.tv_sec));
    PutU32LE(header + 4, nsec);
    PutU32LE(header + 8, caplen);
    PutU32LE(header + 12, h->len);
    Batch& batch = *batch_;
    const size_t at = described_.size();
    if (trackInputs_ && (inputs_.empty() || static_cast<uint32_t>(inputs_.back()) != input)) {
      inputs_.push_back(static_cast<int32_t>(at / kDescriptionWords));
      inputs_.push_back(static_cast<int32_t>(input));
    }
    if (at == 0) batchStartedAt_ = std::chrono::steady_clock::now();
    described_.resize(at + kDescriptionWords);
    described_[at] = static_cast<int32_t>(batch.size());
    DescribeFrame(bytes, caplen, linkType, described_.data() + at);
    batch.insert(batch.end(), header, header + kRecordHeaderBytes);
    // Routed here, a record is read only as far as its headers: the rest of
    // the frame (up to the snaplen) need not be copied.
    const uint32_t copied = router_ ? Router::FrameBytesRead(described_.data() + at, caplen) : caplen;
    batch.insert(batch.end(), bytes, bytes + copied);
    if (batch.size() + described_.size() * sizeof(int32_t) >= kFlushBytes) return Flush();
    return true;
  }

  std::shared_ptr<PcapHandle> live_;
  std::shared_ptr<OfflineMerge> offline_;
  const uint32_t snaplen_;
  // Whether batches say which input their records came from (several files).
  const bool trackInputs_;
  std::shared_ptr<DeliveryGate> gate_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onEnd_;
  Tsfn tsfn_;
  std::thread thread_;
  std::shared_ptr<BatchPool> pool_;
  // Live, routing into a flow store: null when batches go to JS.
  std::shared_ptr<Router> router_;
  // A FlowsStarted message is queued and not yet delivered.
  std::atomic<bool> flowsAnnounced_{false};
  // Capture thread only:
  std::unique_ptr<Batch> batch_;
  // Descriptions of batch_'s records, appended to it when it is handed over.
  std::vector<int32_t> described_;
  // Link type of batch_'s records; input runs of batch_ (see Message::inputs).
  int batchLinkType_ = -1;
  // When the batch's first record was added (live: its age decides the hand-over).
  std::chrono::steady_clock::time_point batchStartedAt_{};
  std::vector<int32_t> inputs_;
  bool jsGone_ = false;
  // Live, a handle that joined a fanout group: packets stamped before this are skipped.
  int64_t skipBeforeNs_ = 0;
  // Set by the finalizer (JS thread), read by the capture thread.
  std::atomic<bool> finalizing_{false};
};

// JS thread (or env == nullptr while Node drops queued items at teardown).
void CallJs(Napi::Env env, Napi::Function, Session* session, Message* message) {
  std::unique_ptr<Message> owned(message);  // freed even if a callback throws
  if (env == nullptr || owned == nullptr) return;
  // A throwing callback propagates as a Napi::Error; node-addon-api rethrows it
  // into JS, where it becomes an uncaught exception like any other.
  session->Deliver(env, *owned);
}

// ---- JS class ------------------------------------------------------------

std::string OptionalString(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("option ") + name + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// Option files: [path, ...], with option names: [display name, ...] beside it.
std::vector<OfflineInputSpec> FilesOption(const Napi::Object& o) {
  Napi::Env env = o.Env();
  std::vector<OfflineInputSpec> files;
  Napi::Value v = o.Get("files");
  if (v.IsUndefined() || v.IsNull()) return files;
  if (!v.IsArray()) throw Napi::TypeError::New(env, "option files must be an array of strings");
  Napi::Array paths = v.As<Napi::Array>();
  Napi::Value n = o.Get("names");
  const bool named = !n.IsUndefined() && !n.IsNull();
  if (named && (!n.IsArray() || n.As<Napi::Array>().Length() != paths.Length())) {
    throw Napi::TypeError::New(env, "option names must be an array of strings as long as files");
  }
  for (uint32_t i = 0; i < paths.Length(); i++) {
    Napi::Value path = paths.Get(i);
    Napi::Value name = named ? n.As<Napi::Array>().Get(i) : env.Undefined();
    if (!path.IsString() || path.As<Napi::String>().Utf8Value().empty() || (named && !name.IsString())) {
      throw Napi::TypeError::New(env, "options files and names must hold non-empty strings");
    }
    files.push_back(OfflineInputSpec{path.As<Napi::String>().Utf8Value(), named ? name.As<Napi::String>().Utf8Value() : std::string()});
  }
  if (files.empty()) throw Napi::TypeError::New(env, "option files must not be empty");
  return files;
}

class Capture : public Napi::ObjectWrap<Capture> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Capture",
                       {
                           InstanceAccessor<&Capture::LinkType>("linkType"),
                           InstanceAccessor<&Capture::LinkTypes>("linkTypes"),
                           InstanceAccessor<&Capture::FanoutGroup>("fanoutGroup"),
                           InstanceMethod<&Capture::InputPackets>("inputPackets"),
                           InstanceMethod<&Capture::Start>("start"),
                           InstanceMethod<&Capture::Stop>("stop"),
                           InstanceMethod<&Capture::Stats>("stats"),
                           InstanceMethod<&Capture::Hold>("hold"),
                           InstanceMethod<&Capture::Release>("release"),
                       });
  }

  explicit Capture(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Capture>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "Capture options must be an object");
    Napi::Object o = info[0].As<Napi::Object>();

    OpenOptions options;
    std::string device = OptionalString(o, "device");
    std::string file = OptionalString(o, "file");
    std::vector<OfflineInputSpec> files = FilesOption(o);
    if (!file.empty()) files.insert(files.begin(), OfflineInputSpec{file, {}});
    if (device.empty() == files.empty() || (!file.empty() && files.size() > 1)) {
      throw Napi::TypeError::New(env, "exactly one of options device, file and files is required");
    }
    options.offline = !files.empty();
    options.source = device;
    // 262144 is libpcap's maximum snapshot length.
    options.snaplen = IntegerOption(o, "snaplen", true, 0, 1, 262144);
    options.bufferSize = IntegerOption(o, "bufferSize", false, 32u << 20, 1, 0x7fffffff);
    options.timeoutMs = IntegerOption(o, "timeoutMs", false, 50, 1, 60000);
    // fanout: 'new' starts a PACKET_FANOUT group, a number joins that group (live only).
    Napi::Value fanout = o.Get("fanout");
    if (fanout.IsString() && fanout.As<Napi::String>().Utf8Value() == "new") {
      options.fanout = kFanoutNew;
    } else if (fanout.IsNumber()) {
      const double group = fanout.As<Napi::Number>().DoubleValue();
      if (!(group >= 0 && group <= 0xffff) || group != static_cast<int32_t>(group)) {
        throw Napi::RangeError::New(env, "option fanout must be 'new' or a group id, 0..65535");
      }
      options.fanout = static_cast<int32_t>(group);
    } else if (!fanout.IsUndefined() && !fanout.IsNull()) {
      throw Napi::TypeError::New(env, "option fanout must be 'new' or a group id");
    }
    Napi::Value filter = o.Get("filter");
    if (!filter.IsString()) throw Napi::TypeError::New(env, "option filter must be a string (empty for none)");
    options.filter = filter.As<Napi::String>().Utf8Value();

    try {
      if (options.offline) offline_ = OfflineMerge::Open(files, options.snaplen, options.filter);
      else live_ = PcapHandle::Open(options);
    } catch (const CaptureError& e) {
      Napi::Error error = Napi::Error::New(env, e.what());
      error.Set("code", Napi::String::New(env, "PH_ERR_CAPTURE"));
      throw error;
    }
  }

 private:
  // Offline: the first file's (linkTypes has each file's).
  Napi::Value LinkType(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live_ ? live_->linkType() : offline_->linkType(0));
  }

  // The PACKET_FANOUT group of a live handle opened with option fanout, -1 none.
  Napi::Value FanoutGroup(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live_ ? live_->fanoutGroup() : -1);
  }

  Napi::Value LinkTypes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t n = live_ ? 1 : offline_->size();
    Napi::Array out = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; i++) {
      out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, live_ ? live_->linkType() : offline_->linkType(i)));
    }
    return out;
  }

  // Offline: packets read so far from each file. Live: [received].
  Napi::Value InputPackets(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<uint64_t> packets = live_ ? std::vector<uint64_t>{live_->Stats().received} : offline_->Packets();
    Napi::Array out = Napi::Array::New(env, packets.size());
    for (size_t i = 0; i < packets.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(packets[i])));
    return out;
  }

  // start(onBatch, onEnd, store?): with a FlowStore (live captures only),
  // the capture thread routes the records into it, and onBatch() is called
  // without a batch when flows started (FlowStore.takeNewFlows).
  void Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "start(onBatch, onEnd, store?) needs two functions");
    }
    if (state_ != State::Opened) {
      throw Napi::Error::New(env, state_ == State::Started ? "capture already started" : "capture was stopped");
    }
    std::shared_ptr<Router> router;
    if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull()) {
      router = RouterOfStore(info[2]);
      if (!router) throw Napi::TypeError::New(env, "start: store must be a FlowStore");
      // -read is routed on the JS thread, in packet time (src/demux/packetclock.ts).
      if (!live_) throw Napi::TypeError::New(env, "start: only a live capture routes into a store");
    }
    auto* session = new Session(live_, offline_, gate_, info[0].As<Napi::Function>(), info[1].As<Napi::Function>(),
                                std::move(router));
    state_ = State::Started;
    session->Start(env);  // on failure the TSFN finalizer frees the session
  }

  void Stop(const Napi::CallbackInfo&) {
    if (state_ == State::Opened) {
      // Never started: nothing to deliver, just release the handle now.
      if (live_) live_->Close();
      else offline_->Close();
      state_ = State::Stopped;
    } else if (state_ == State::Started) {
      // Idempotent; a no-op once the thread closed the handle.
      if (live_) live_->RequestStop();
      else offline_->RequestStop();
      gate_->Open();           // what is left is delivered without waiting for release()
    }
  }

  void Hold(const Napi::CallbackInfo&) { gate_->Hold(); }
  void Release(const Napi::CallbackInfo&) { gate_->Open(); }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    StatsSnapshot s;
    if (live_) {
      s = live_->Stats();
    } else {
      for (uint64_t n : offline_->Packets()) s.received += n;
    }
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("received", Napi::Number::New(info.Env(), static_cast<double>(s.received)));
    out.Set("dropped", Napi::Number::New(info.Env(), static_cast<double>(s.dropped)));
    out.Set("ifDropped", Napi::Number::New(info.Env(), static_cast<double>(s.ifDropped)));
    return out;
  }

  enum class State { Opened, Started, Stopped };
  State state_ = State::Opened;
  // Exactly one of them.
  std::shared_ptr<PcapHandle> live_;
  std::shared_ptr<OfflineMerge> offline_;
  std::shared_ptr<DeliveryGate> gate_ = std::make_shared<DeliveryGate>();
};

}  // namespace

Napi::Function DefineCaptureClass(Napi::Env env) { return Capture::Define(env); }

}  // namespace ph
