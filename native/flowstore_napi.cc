// The FlowStore class that JS sees (src/native/addon.ts NativeFlowStore,
// src/saver/flowstore.ts): its methods check their arguments and hand the
// work to the router (router.h: slots, routes, route()) and to the store's
// threads (store_threads.h, file_jobs.h). It also owns the lifetime: the
// threads, the thread-safe function that announces events (referenced only
// while a finish is outstanding), close() and abort().
#include "flowstore.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "chunk.h"
#include "file_jobs.h"
#include "layout.h"
#include "options.h"
#include "router.h"
#include "routes.h"
#include "store_threads.h"

namespace ph {
namespace {

constexpr uint32_t kMinChunkBytes = 1024;
constexpr uint32_t kMaxChunkBytes = 16u << 20;
constexpr uint32_t kMaxThreads = 64;
// Marks the objects that are FlowStores (napi_type_tag: two random words).
constexpr napi_type_tag kFlowStoreTag = {0x5f1c0e8a2b7d4c31ULL, 0x9a6e3f20d4b1c857ULL};

class FlowStore : public Napi::ObjectWrap<FlowStore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FlowStore",
                       {
                           InstanceMethod<&FlowStore::SetTick>("setTick"),
                           InstanceMethod<&FlowStore::SetLimits>("setLimits"),
                           InstanceMethod<&FlowStore::SetMemoryInUse>("setMemoryInUse"),
                           InstanceMethod<&FlowStore::SetAnonymization>("setAnonymization"),
                           InstanceMethod<&FlowStore::OpenFlow>("openFlow"),
                           InstanceMethod<&FlowStore::FindFlow>("findFlow"),
                           InstanceMethod<&FlowStore::TakeNewFlows>("takeNewFlows"),
                           InstanceMethod<&FlowStore::TakeTallies>("takeTallies"),
                           InstanceMethod<&FlowStore::SetFlowState>("setFlowState"),
                           InstanceMethod<&FlowStore::EndFlow>("endFlow"),
                           InstanceMethod<&FlowStore::FlowCounts>("flowCounts"),
                           InstanceMethod<&FlowStore::TakeSeen>("takeSeen"),
                           InstanceMethod<&FlowStore::FlushStreams>("flushStreams"),
                           InstanceMethod<&FlowStore::RouteBatch>("route"),
                           InstanceMethod<&FlowStore::Target>("target"),
                           InstanceMethod<&FlowStore::FinishFile>("finish"),
                           InstanceMethod<&FlowStore::Discard>("discard"),
                           InstanceMethod<&FlowStore::TakeEvents>("takeEvents"),
                           InstanceMethod<&FlowStore::Pending>("pending"),
                           InstanceMethod<&FlowStore::Close>("close"),
                           InstanceMethod<&FlowStore::Abort>("abort"),
                       });
  }

  FlowStore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FlowStore>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "new FlowStore(options, onEvents)");
    }
    Napi::Object o = info[0].As<Napi::Object>();
    const uint32_t threads = IntegerOption(o, "threads", false, 1, 1, kMaxThreads);
    const int level = static_cast<int>(IntegerOption(o, "level", false, 1, 0, 12));
    const size_t chunkBytes = IntegerOption(o, "chunkBytes", false, 64 * 1024, kMinChunkBytes, kMaxChunkBytes);
    const auto fileMode = static_cast<mode_t>(IntegerOption(o, "fileMode", false, 0664, 0, 07777));
    const auto dirMode = static_cast<mode_t>(IntegerOption(o, "dirMode", false, 0775, 0, 07777));
    // 1: files are fdatasynced before they are renamed into place and their
    // directories fsynced after (docs/output.md, Durability).
    const bool sync = IntegerOption(o, "sync", false, 1, 0, 1) != 0;
    // Where files are written before they appear in the datadir's tree: the
    // same filesystem, outside the tree ('' none; src/saver/staging.ts).
    std::string stagingDir;
    const Napi::Value staging = o.Get("stagingDir");
    if (staging.IsString()) {
      stagingDir = staging.As<Napi::String>().Utf8Value();
    } else if (!staging.IsUndefined() && !staging.IsNull()) {
      throw Napi::TypeError::New(env, "option stagingDir must be a string");
    }
    // 1: stream mode; route() lists the flows for flushStreams().
    const bool stream = IntegerOption(o, "stream", false, 0, 0, 1) != 0;

    shared_ = std::make_shared<StoreShared>();
    shared_->chunks = std::make_unique<ChunkPool>(chunkBytes);
    for (uint32_t i = 0; i < threads; i++) {
      shared_->threads.push_back(std::make_unique<StoreThread>(shared_.get(), level, fileMode, dirMode, sync, stagingDir));
    }
    router_->Init(shared_, chunkBytes, stream);
    // capture.cc routes into this store only if it is one (RouterOfStore).
    info.This().As<Napi::Object>().TypeTag(&kFlowStoreTag);
    auto* held = new std::shared_ptr<StoreShared>(shared_);
    shared_->tsfn = Napi::ThreadSafeFunction::New(
        env, info[1].As<Napi::Function>(), "packet-headers flow store", 0, 1,
        [](Napi::Env, std::shared_ptr<StoreShared>* s) {
          (*s)->StopThreads();
          (*s)->tsfnFinalized = true;
          delete s;
        },
        held);
    shared_->tsfn.Unref(env);
    try {
      for (auto& t : shared_->threads) t->Start();
    } catch (const std::system_error& e) {
      Shutdown();
      throw Napi::Error::New(env, std::string("cannot start flow store threads: ") + e.what());
    }
  }

  ~FlowStore() override { Shutdown(); }

  const std::shared_ptr<Router>& router() const { return router_; }

 private:
  // setTick(onTick): packet-time mode, route() calls onTick() when packet
  // time reaches the next deadline check (src/demux/packetclock.ts), before
  // the record that reached it.
  Napi::Value SetTick(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "setTick(onTick: function)");
    // Weak: the JS store holds it as long as it can call route(), and a
    // strong reference here would keep the store (which it reaches) forever.
    onTick_ = Napi::Weak(info[0].As<Napi::Function>());
    return env.Undefined();
  }

  // setLimits(maxFlows, maxMemoryBytes): no flow is started while maxFlows
  // (0: no limit) are open, or while memory in use is above maxMemoryBytes.
  Napi::Value SetLimits(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      throw Napi::TypeError::New(env, "setLimits(maxFlows: number, maxMemoryBytes: number)");
    }
    const double maxFlows = info[0].As<Napi::Number>().DoubleValue();
    const double maxMemory = info[1].As<Napi::Number>().DoubleValue();
    if (!(maxFlows >= 0) || !(maxMemory >= 0)) throw Napi::RangeError::New(env, "setLimits: limits must be >= 0");
    router_->SetLimits(static_cast<size_t>(maxFlows), maxMemory);
    return env.Undefined();
  }

  // setMemoryInUse(bytes, sample): memory in use now; with sample true the
  // store also reads it itself every 256 flows it starts.
  Napi::Value SetMemoryInUse(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) {
      throw Napi::TypeError::New(env, "setMemoryInUse(bytes: number, sample: boolean)");
    }
    router_->SetMemoryInUse(info[0].As<Napi::Number>().DoubleValue(), info[1].As<Napi::Boolean>().Value());
    return env.Undefined();
  }

  // setAnonymization(localAddresses: Int32Array | null): with an array
  // (four key words per address), every address of a flow but these is
  // masked (-anonymize.ip netblock); null: none is.
  Napi::Value SetAnonymization(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
      router_->SetAnonymization(false, {});
      return env.Undefined();
    }
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        info[0].As<Napi::TypedArray>().ElementLength() % 4 != 0) {
      throw Napi::TypeError::New(env, "setAnonymization(localAddresses: Int32Array of 4 words each | null)");
    }
    Napi::Int32Array words = info[0].As<Napi::Int32Array>();
    router_->SetAnonymization(true, std::vector<int32_t>(words.Data(), words.Data() + words.ElementLength()));
    return env.Undefined();
  }

  // openFlow(key: Int32Array, hash, headerLength, anonymize): a flow for a
  // key that has none (a connection named before its packets come), with its
  // file: [route, slot, serial], or [-1 - REFUSED_*] when the limits refuse
  // it. headerLength 0: fixed by the first packet; anonymize -1: by the
  // addresses (setAnonymization), else ANONYMIZE_A | ANONYMIZE_B bits.
  Napi::Value OpenFlow(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber() ||
        !info[3].IsNumber()) {
      throw Napi::TypeError::New(env, "openFlow(key: Int32Array, hash, headerLength, anonymize)");
    }
    const int32_t* key = KeyArg(env, info[0]);
    const int32_t hash = info[1].As<Napi::Number>().Int32Value();
    if (router_->routes().Find(hash, key) >= 0) throw Napi::Error::New(env, "openFlow: the flow has a route already");
    const int32_t id = router_->Start(hash, key, info[2].As<Napi::Number>().Uint32Value(),
                                     info[3].As<Napi::Number>().Int32Value());
    if (id < 0) {
      Napi::Array refused = Napi::Array::New(env, 1);
      refused.Set(0u, Napi::Number::New(env, id));
      return refused;
    }
    const int32_t slot = router_->routes()[id].slot;
    Napi::Array out = Napi::Array::New(env, 3);
    out.Set(0u, Napi::Number::New(env, id));
    out.Set(1u, Napi::Number::New(env, slot));
    out.Set(2u, Napi::Number::New(env, slot >= 0 ? router_->slot(slot).file->serial : 0));
    return out;
  }

  // findFlow(key: Int32Array, hash): the route of the key's flow, -1 none.
  Napi::Value FindFlow(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) {
      throw Napi::TypeError::New(env, "findFlow(key: Int32Array, hash)");
    }
    const int32_t* key = KeyArg(env, info[0]);
    return Napi::Number::New(env, router_->routes().Find(info[1].As<Napi::Number>().Int32Value(), key));
  }

  // takeNewFlows(): the flows route() started since the last call, and the
  // ends of flows whose 4-tuple a new connection took: NEWFLOW_WORDS doubles each.
  Napi::Value TakeNewFlows(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    router_->TakeNewFlows(newFlows_);
    Napi::Float64Array out = Napi::Float64Array::New(env, newFlows_.size());
    if (!newFlows_.empty()) std::memcpy(out.Data(), newFlows_.data(), newFlows_.size() * sizeof(double));
    return out;
  }

  // takeTallies(into: Float64Array of TALLY_WORDS): adds the tallies of the
  // records routed since the last call, and zeroes them.
  Napi::Value TakeTallies(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[0].As<Napi::TypedArray>().ElementLength() < kTallyWords) {
      throw Napi::TypeError::New(env, "takeTallies(into: Float64Array of TALLY_WORDS)");
    }
    router_->TakeTallies(info[0].As<Napi::Float64Array>().Data());
    return env.Undefined();
  }

  // setFlowState(route, state): the flow's new state (src/demux/flow.ts); only
  // UuidWait and Saving take packets. In stream mode a flow that starts saving
  // with records held is flushed at the next flushStreams().
  Napi::Value SetFlowState(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    RouteArg(info);
    if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "setFlowState(route, state)");
    const uint32_t state = info[1].As<Napi::Number>().Uint32Value();
    if (state >= kStateCount) throw Napi::RangeError::New(env, "setFlowState: no such state");
    router_->SetState(info[0].As<Napi::Number>().Int32Value(), state);
    return env.Undefined();
  }

  // endFlow(route): the flow is gone; its packets are unknown again (a later one starts a new flow).
  Napi::Value EndFlow(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    RouteArg(info);
    router_->End(info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  }

  // flowCounts(route): [packets routed to the flow, packets saved of them,
  // the sequence number of its opening SYN or -1].
  Napi::Value FlowCounts(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    const Route& r = RouteArg(info);
    Napi::Array out = Napi::Array::New(env, 3);
    out.Set(0u, Napi::Number::New(env, r.packetsSeen));
    out.Set(1u, Napi::Number::New(env, r.packetsSaved));
    out.Set(2u, Napi::Number::New(env, static_cast<double>(r.synSeq)));
    return out;
  }

  // takeSeen(): for the generational sweep, by route, 1 where the flow saw a
  // packet since the previous call (or started since), else 0; clears them all.
  Napi::Value TakeSeen(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    Napi::Uint8Array out = Napi::Uint8Array::New(env, router_->routes().capacity());
    router_->TakeSeen(out.Data());
    return out;
  }

  // flushStreams(): stream mode, every flow that stored records while saving
  // since the last call sends its partial chunk to its file.
  Napi::Value FlushStreams(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    router_->FlushStreams();
    return info.Env().Undefined();
  }

  // route(batch, described, linkType, clock: Float64Array | null): every
  // record of a batch, in order, to its flow's file: cut to the flow's
  // header length, every byte after the TCP header zero, the addresses its
  // flow anonymizes masked. A record of no flow starts one (takeNewFlows), as
  // does a SYN that opens a new connection on a flow's 4-tuple, within the
  // limits (setLimits). Tallies what it did (takeTallies): [kTallySaved]
  // records saved, [kTallyMissed + state] records of flows in that state that
  // were not wanted, [kTallyBad + status] records that did not decode, by
  // status, [kTallyRefused + reason] records of flows not started. clock
  // (packet-time mode): [0] now, [1] when deadlines are next due, [2] the
  // tick in ms; each record moves it, and setTick's callback runs when it
  // is due. The routing is Router::RouteBatch.
  Napi::Value RouteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
      throw Napi::TypeError::New(env, "route(batch: Uint8Array, described: Int32Array, linkType, clock?)");
    }
    Napi::TypedArray b = info[0].As<Napi::TypedArray>();
    Napi::TypedArray d = info[1].As<Napi::TypedArray>();
    if (b.TypedArrayType() != napi_uint8_array || d.TypedArrayType() != napi_int32_array) {
      throw Napi::TypeError::New(env, "route: batch must be a Uint8Array, described an Int32Array");
    }
    double* clock = nullptr;
    if (info.Length() > 3 && info[3].IsTypedArray()) {
      Napi::TypedArray c = info[3].As<Napi::TypedArray>();
      if (c.TypedArrayType() != napi_float64_array || c.ElementLength() < 3) {
        throw Napi::TypeError::New(env, "route: clock must be a Float64Array of 3");
      }
      if (onTick_.IsEmpty() || onTick_.Value().IsEmpty()) throw Napi::Error::New(env, "route: setTick first");
      clock = c.As<Napi::Float64Array>().Data();
    }
    // Kept alive by the caller for the whole call, callbacks included.
    const auto batch = b.As<Napi::Uint8Array>();
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    router_->RouteBatch(batch.Data(), batch.ByteLength(), d.As<Napi::Int32Array>().Data(), d.ElementLength(),
                        info[2].As<Napi::Number>().Uint32Value(), clock, [&] {
                          Napi::HandleScope scope(env);
                          onTick_.Call({});
                        });
    return env.Undefined();
  }

  // target(slot, path, stream, writePath): names the file; a streaming file
  // is written from now on, at writePath until its end.
  Napi::Value Target(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    Slot& s = SlotArg(info);
    if (info.Length() < 4 || !info[1].IsString() || !info[2].IsBoolean() || !info[3].IsString()) {
      throw Napi::TypeError::New(env, "target(slot, path: string, stream: boolean, writePath: string)");
    }
    const bool stream = info[2].As<Napi::Boolean>().Value();
    // Only a streaming file has anything to do now: its members so far go to disk.
    router_->Push(s,
                 Job{JobKind::Target, s.file, Chunk(), info[1].As<Napi::String>().Utf8Value(),
                     info[3].As<Napi::String>().Utf8Value(), stream},
                 stream);
    return env.Undefined();
  }

  // finish(slot): compresses what is left and completes the file; the slot is
  // closed, and a Finished event with the file's serial follows.
  Napi::Value FinishFile(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    Slot& s = SlotArg(info);
    router_->Seal(s, false);
    router_->Push(s, Job{JobKind::Finish, s.file, Chunk(), std::string(), std::string(), false}, true);
    if (outstandingFinishes_++ == 0 && !shared_->tsfnFinalized) shared_->tsfn.Ref(env);
    router_->CloseSlot(info[0].As<Napi::Number>().Uint32Value());
    return env.Undefined();
  }

  // discard(slot): nothing of the file will be written; the slot is closed.
  Napi::Value Discard(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Slot& s = SlotArg(info);
    // Woken at once: dropping the file frees its memory.
    router_->Push(s, Job{JobKind::Discard, s.file, Chunk(), std::string(), std::string(), false}, true);
    router_->CloseSlot(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  // takeEvents(): every event since the last call, kEventWords words each.
  Napi::Value TakeEvents(const Napi::CallbackInfo& info) {
    const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
    Napi::Env env = info.Env();
    std::vector<int32_t> taken;
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      taken.swap(shared_->events);
    }
    Napi::Int32Array out = Napi::Int32Array::New(env, taken.size());
    if (!taken.empty()) std::memcpy(out.Data(), taken.data(), taken.size() * sizeof(int32_t));
    for (size_t i = 0; i < taken.size(); i += kEventWords) {
      if (taken[i] == kEventFinished && outstandingFinishes_ > 0 && --outstandingFinishes_ == 0 && !router_->closed() &&
          !shared_->tsfnFinalized) {
        shared_->tsfn.Unref(env);
      }
    }
    return out;
  }

  // pending(): jobs queued or running.
  Napi::Value Pending(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(shared_->pending.load()));
  }

  // close(): ends the threads after their current job; queued jobs are dropped.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  // abort(waitMs): for an exit at once (a second signal). The threads stop
  // after the job each is running, so a file being written is renamed into
  // place or removed, not left under its temporary name; queued jobs are
  // dropped. Waits at most waitMs; true if every thread stopped in time. The
  // threads are not joined (the process is about to exit) and the store
  // takes no more calls.
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const double waitMs = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 1000;
    {
      const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
      if (router_->closed() || !shared_) return Napi::Boolean::New(env, true);
      router_->MarkClosed();
    }
    for (auto& t : shared_->threads) t->RequestStop();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(waitMs);
    for (;;) {
      bool all = true;
      for (auto& t : shared_->threads) all = all && t->Stopped();
      if (all) return Napi::Boolean::New(env, true);
      if (std::chrono::steady_clock::now() >= deadline) return Napi::Boolean::New(env, false);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  void Shutdown() {
    {
      const std::lock_guard<std::recursive_mutex> routerLock(router_->mutex());
      if (router_->closed()) return;
      router_->MarkClosed();
    }
    if (!shared_) return;
    shared_->StopThreads();
    if (!shared_->tsfnFinalized) shared_->tsfn.Release();
  }

  void RequireRunning(Napi::Env env) {
    if (router_->closed()) throw Napi::Error::New(env, "FlowStore is closed");
  }

  Slot& SlotAt(Napi::Env env, int64_t index) {
    if (!router_->IsOpen(index)) {
      throw Napi::RangeError::New(env, "FlowStore: no open file in slot " + std::to_string(index));
    }
    return router_->slot(index);
  }

  Slot& SlotArg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireRunning(env);
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "slot must be a number");
    return SlotAt(env, info[0].As<Napi::Number>().Int64Value());
  }

  static const int32_t* KeyArg(Napi::Env env, Napi::Value value) {
    Napi::TypedArray k = value.As<Napi::TypedArray>();
    if (k.TypedArrayType() != napi_int32_array || k.ElementLength() != kKeyWords) {
      throw Napi::TypeError::New(env, "key must be an Int32Array of 9 words");
    }
    return k.As<Napi::Int32Array>().Data();
  }

  Route& RouteArg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "route must be a number");
    const int64_t id = info[0].As<Napi::Number>().Int64Value();
    if (!router_->routes().Valid(id)) throw Napi::RangeError::New(env, "FlowStore: no route " + std::to_string(id));
    return router_->routes()[static_cast<int32_t>(id)];
  }

  std::shared_ptr<StoreShared> shared_;
  // The JS thread's state: slots, routes, and whether the store is closed.
  // After shared_, so it goes first: it points into shared_.
  // Shared with the live captures that route into this store (capture.cc).
  std::shared_ptr<Router> router_ = std::make_shared<Router>();
  Napi::FunctionReference onTick_;
  int64_t outstandingFinishes_ = 0;
  // takeNewFlows' buffer, swapped with the router's.
  std::vector<double> newFlows_;
};

}  // namespace

Napi::Function DefineFlowStoreClass(Napi::Env env) { return FlowStore::Define(env); }

std::shared_ptr<Router> RouterOfStore(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kFlowStoreTag)) return nullptr;
  return FlowStore::Unwrap(value.As<Napi::Object>())->router();
}

}  // namespace ph
