// The bytes of every flow: records trimmed into per-flow chunks on the JS
// thread, full chunks compressed into gzip members and files written on
// threads of the store's own. JS keeps every decision (which flow a packet
// belongs to, how much of it to keep, which addresses to mask, when a file is
// named, finished or dropped); this file only carries them out.
//
// Why native: per packet, copying a record through DataViews cost the JS
// thread more than deciding where it goes, and each chunk handed to a worker
// isolate cost a structured-clone message each way plus that isolate's own
// compiler and garbage collector. Here a record is one memcpy, and a chunk is
// moved (not copied) into its thread's queue.
//
// Threads and ordering: every file is pinned to one thread when it is opened,
// so its jobs (compress a chunk, name the file, finish it) run in the order
// JS issued them without any per-file lock. A file's FileState is touched
// only by its thread; its Slot (the chunk being filled) only by the JS thread.
//
// Results travel back as events (int32 words) through one thread-safe
// function (TSFN), which is referenced only while a finish is outstanding: an
// idle store never keeps the process alive, a pending file always does.
//
// Lifetime: the threads only touch Shared (held by shared_ptr) and the TSFN.
// Node frees a TSFN when it is finalized, which happens after Release() or at
// environment teardown, whichever comes first; its finalizer therefore stops
// and joins the threads first, so no thread ever calls into a freed TSFN.
#include "flowstore.h"

#include <pthread.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "bytes.h"
#include "chunk.h"
#include "decode.h"
#include "deflate.h"
#include "files.h"
#include "layout.h"
#include "options.h"
#include "routes.h"

namespace ph {
namespace {

constexpr size_t kPcapFileHeaderBytes = 24;
constexpr size_t kPcapRecordHeaderBytes = 16;
constexpr uint32_t kPcapMagicNanoseconds = 0xa1b23c4d;
// A flow's first chunk: a handshake, a short exchange and a close fit. Small
// because a SYN flood starts tens of thousands of flows that never grow.
constexpr size_t kInitialChunkBytes = 1024;
constexpr uint32_t kMinChunkBytes = 1024;
constexpr uint32_t kMaxChunkBytes = 16u << 20;
constexpr uint32_t kMaxThreads = 64;

// How many records ahead Route prefetches what the record will touch.
constexpr size_t kPrefetchAhead = 8;
constexpr size_t kLookahead = kPrefetchAhead + 1;
// A record that is a FIN or RST: the connection is ending, so the chunk will
// not grow much more. If it already holds kEarlyCompressBytes it is compressed
// now, while the flow waits for its timeout (a quarter of the memory, and
// compression spread over time instead of left for the end). Smaller chunks
// wait for the end: a member of their own would cost a short flow more bytes.
constexpr size_t kEarlyCompressBytes = 16 * 1024;
// The largest TCP header, 15 words of 4 bytes: with what comes before it, the
// bytes kept of every packet of a flow.
constexpr uint32_t kMaxTcpHeaderBytes = 60;
// What Finish's helpers return for a file with nothing in it (not an errno).
constexpr int kNothingWritten = -1;
// A store thread that never runs out of work still fsyncs its directories
// (and reports those files finished) after this many files or this long.
constexpr size_t kMaxUnsyncedFiles = 256;
constexpr std::chrono::milliseconds kMaxUnsyncedTime{100};

// What a file's thread knows of it.
struct FileState {
  explicit FileState(int32_t s) : serial(s) {}
  ~FileState() {
    // A stream file still open when the store goes (abort, exit): it stays in
    // the staging directory for the next start to publish (docs/output.md).
    if (fd >= 0) close(fd);
  }
  const int32_t serial;
  // Compressed members not yet on disk (all of them until the file is
  // finished, unless it streams).
  std::vector<Bytes> members;
  // Where the file is published.
  std::string path;
  // Stream mode: where it grows until then (in the staging directory, or
  // `path` itself when there is none).
  std::string writePath;
  bool stream = false;
  // Stream mode: open from its first member to its end, so that the file is
  // closed once (an uploader hears of every close after a write).
  int fd = -1;
  bool failed = false;
  bool discarded = false;
};

enum class JobKind { Compress, Target, Finish, Discard };

struct Job {
  JobKind kind;
  std::shared_ptr<FileState> file;
  Chunk data;             // Compress: the raw records
  std::string path;       // Target: where the file is published
  std::string writePath;  // Target, stream mode: where it grows until then
  bool stream = false;
};

class SaverThread;

// What the JS thread, the saver threads and the TSFN finalizer share.
struct Shared {
  std::mutex mutex;
  std::vector<int32_t> events;
  Napi::ThreadSafeFunction tsfn;
  bool tsfnFinalized = false;  // JS thread only
  std::atomic<int64_t> pending{0};
  std::unique_ptr<ChunkPool> chunks;
  std::vector<std::unique_ptr<SaverThread>> threads;

  void StopThreads();

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

class SaverThread {
 public:
  // `shared` outlives the thread: StopThreads joins it before Shared goes.
  SaverThread(Shared* shared, int level, mode_t fileMode, mode_t dirMode, bool sync, std::string stagingDir)
      : outbox_(shared),
        pending_(&shared->pending),
        chunks_(shared->chunks.get()),
        level_(level),
        fileMode_(fileMode),
        dirMode_(dirMode),
        sync_(sync),
        stagingDir_(std::move(stagingDir)) {}

  void Start() { thread_ = std::thread(&SaverThread::Run, this); }

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
  void Stop() {
    RequestStop();
    if (thread_.joinable()) thread_.join();
  }

  // As Stop, without waiting: Stopped() says when the thread is done.
  void RequestStop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      *pending_ -= static_cast<int64_t>(queue_.size());
      queue_.clear();
    }
    wake_.notify_one();
  }

  bool Stopped() const { return !thread_.joinable() || stopped_.load(); }

 private:
  void Run() {
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
      try {
        Execute(job);
      } catch (const std::bad_alloc&) {
        Fail(*job.file, job.kind == JobKind::Compress ? kStageCompress : kStageWrite, ENOMEM);
        if (job.kind == JobKind::Finish) outbox_->Post(kEventFinished, job.file->serial, kFinishedFailed, 0);
      }
      --*pending_;
      bool idle;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        idle = queue_.empty();
      }
      if (!finished_.empty() && (idle || finished_.size() >= kMaxUnsyncedFiles ||
                                 std::chrono::steady_clock::now() - firstUnsynced_ >= kMaxUnsyncedTime)) {
        SyncDirectories();
      }
    }
  }

  // Durability, batched: the directories of the files finished since the
  // thread last ran out of work (or since kMaxUnsyncedFiles files or
  // kMaxUnsyncedTime, under load that never lets it) are fsynced once each,
  // and only then are those files reported finished.
  void SyncDirectories() {
    std::sort(dirsToSync_.begin(), dirsToSync_.end());
    dirsToSync_.erase(std::unique(dirsToSync_.begin(), dirsToSync_.end()), dirsToSync_.end());
    for (const std::string& dir : dirsToSync_) SyncDirectory(dir);
    dirsToSync_.clear();
    for (const auto& f : finished_) outbox_->Post(kEventFinished, f.first, f.second, 0);
    finished_.clear();
  }

  void Execute(Job& job) {
    FileState& file = *job.file;
    switch (job.kind) {
      case JobKind::Compress: {
        if (file.failed || file.discarded) return;
        Bytes member;
        if (!Compress(job.data, &member)) {
          Fail(file, kStageCompress, ENOMEM);
          return;
        }
        chunks_->Give(std::move(job.data));  // the raw chunk is not needed while writing
        file.members.push_back(std::move(member));
        if (file.stream && !file.path.empty()) AppendMembers(file);
        return;
      }
      case JobKind::Target:
        file.path = std::move(job.path);
        file.writePath = job.writePath.empty() ? file.path : std::move(job.writePath);
        file.stream = job.stream;
        if (file.stream && !file.failed && !file.discarded) AppendMembers(file);
        return;
      case JobKind::Discard:
        file.discarded = true;
        file.members = std::vector<Bytes>();
        return;
      case JobKind::Finish: {
        const int32_t result = Finish(file);
        if (sync_ && result == kFinishedWritten) {
          if (finished_.empty()) firstUnsynced_ = std::chrono::steady_clock::now();
          dirsToSync_.push_back(DirectoryOf(file.path));
          finished_.emplace_back(file.serial, result);
        } else {
          outbox_->Post(kEventFinished, file.serial, result, 0);
        }
        return;
      }
    }
  }

  int32_t Finish(FileState& file) {
    if (file.failed) return kFinishedFailed;
    if (file.discarded || file.path.empty()) return kFinishedEmpty;
    const int error = file.stream ? FinishStream(file) : PublishWhole(file);
    file.members = std::vector<Bytes>();
    if (error == kNothingWritten) return kFinishedEmpty;
    if (error != 0) {
      if (file.stream) {
        StreamFailed(file, error);
      } else {
        Fail(file, kStageWrite, error);
      }
      return kFinishedFailed;
    }
    return kFinishedWritten;
  }

  // Buffered mode. The uploader beside the daemon ships every file it hears
  // closed after a write or moved into the datadir, so the file is written
  // where no name of the tree shows it and appears under its name once,
  // whole: written to an unnamed file (O_TMPFILE) in the staging directory
  // (outside the tree, where the descriptor's close is heard by nobody),
  // made durable, linked to its name, which is then opened for writing and
  // closed, the one close the uploader hears. Without a staging directory the
  // unnamed file is made in the day directory, whose watchers also hear the
  // close of an unnamed "#<inode>" that they cannot open. Where unnamed
  // files cannot be made, a temporary file in the staging directory is
  // renamed into the tree (the move is what the uploader hears).
  int PublishWhole(FileState& file) {
    if (file.members.empty()) return kNothingWritten;
    const Pieces pieces = PiecesOf(file.members, 0);
    const std::string& dir = stagingDir_.empty() ? DirectoryOf(file.path) : stagingDir_;
    if (unnamedFiles_) {
      int fd = -1;
      int error = WriteUnnamed(dir, pieces, fileMode_, dirMode_, sync_, &fd);
      if (error == 0) {
        error = LinkFirstFree(fd, file);
        close(fd);
        if (error == 0) AnnounceWritten(file.path);
      }
      if (error != EOPNOTSUPP) return error;
      unnamedFiles_ = false;
    }
    const std::string temporary = TemporaryPathFor(file.path, stagingDir_);
    int error = WriteTemporary(temporary, pieces, fileMode_, dirMode_, sync_);
    if (error == 0) error = MoveFirstFree(temporary, file);
    if (error != 0) unlink(temporary.c_str());
    return error;
  }

  // The unnamed file open on `fd` linked to the file's name, or where that is
  // taken to the first free <UUID>.N.pcap.gz (a file published is never
  // replaced). EOPNOTSUPP: no /proc to link through.
  int LinkFirstFree(int fd, FileState& file) {
    int error = LinkUnnamed(fd, file.path);
    if (error == ENOENT) {
      // The day's directory is made ahead (src/saver/daydirectories.ts); made here only if it went.
      error = MakeDirectories(DirectoryOf(file.path), dirMode_);
      if (error != 0) return error;
      error = LinkUnnamed(fd, file.path);
      if (error == ENOENT) return EOPNOTSUPP;
    }
    for (int n = 1; error == EEXIST && n <= kMaxNumberedNames; n++) {
      const std::string candidate = NumberedPath(file.path, n);
      error = LinkUnnamed(fd, candidate);
      if (error == 0) Numbered(file, candidate, n);
    }
    return error;
  }

  // rename(2) of `from` to the file's name, or where that is taken to the
  // first free <UUID>.N.pcap.gz; never replaces.
  int MoveFirstFree(const std::string& from, FileState& file) {
    int error = MoveNoReplace(from, file.path, dirMode_);
    for (int n = 1; error == EEXIST && n <= kMaxNumberedNames; n++) {
      const std::string candidate = NumberedPath(file.path, n);
      error = MoveNoReplace(from, candidate, dirMode_);
      if (error == 0) Numbered(file, candidate, n);
    }
    return error;
  }

  void Numbered(FileState& file, const std::string& path, int n) {
    file.path = path;
    outbox_->Post(kEventNumbered, file.serial, n, 0);
  }

  // Stream mode: members are written as they are made to the file's write
  // path, through one descriptor held from the first member to the end.
  void AppendMembers(FileState& file) {
    if (file.members.empty()) return;
    int error = file.fd < 0 ? StartStream(file) : 0;
    if (error == 0) error = WritePieces(file.fd, PiecesOf(file.members, 0));
    file.members.clear();
    if (error != 0) StreamFailed(file, error);
  }

  // The stream file made exclusively: in the staging directory (a name taken
  // there is a second writer's: the next free number is taken), or without
  // one under the file's name (the first free <UUID>.N.pcap.gz where that is
  // taken).
  int StartStream(FileState& file) {
    const bool staged = file.writePath != file.path;
    const std::string first = file.writePath;
    int error = CreateExclusive(first, fileMode_, dirMode_, &file.fd);
    for (int n = 1; error == EEXIST && n <= kMaxNumberedNames; n++) {
      file.writePath = NumberedPath(first, n);
      error = CreateExclusive(file.writePath, fileMode_, dirMode_, &file.fd);
      if (error == 0 && !staged) Numbered(file, file.writePath, n);
    }
    return error;
  }

  // The end of a stream file: made durable and closed (the one close of its
  // life); from the staging directory it is then moved into the tree.
  int FinishStream(FileState& file) {
    if (!file.members.empty()) AppendMembers(file);
    if (file.failed) return EIO;  // reported by AppendMembers
    if (file.fd < 0) return kNothingWritten;
    int error = sync_ && fdatasync(file.fd) != 0 ? errno : 0;
    if (close(file.fd) != 0 && error == 0) error = errno;
    file.fd = -1;
    if (error == 0 && file.writePath != file.path) error = MoveFirstFree(file.writePath, file);
    return error;
  }

  // A stream file that lost a member is not a faithful record: it is removed.
  void StreamFailed(FileState& file, int error) {
    if (file.fd >= 0) {
      close(file.fd);
      file.fd = -1;
      unlink(file.writePath.c_str());
    }
    Fail(file, kStageWrite, error);
  }

  static Pieces PiecesOf(const std::vector<Bytes>& members, size_t from) {
    Pieces pieces;
    for (size_t i = from; i < members.size(); i++) pieces.emplace_back(members[i].data(), members[i].size());
    return pieces;
  }

  void Fail(FileState& file, int32_t stage, int error) {
    if (file.failed) return;
    file.failed = true;
    file.members = std::vector<Bytes>();
    outbox_->Post(kEventFailed, file.serial, stage, error);
  }

  bool Compress(const Chunk& raw, Bytes* member) { return Compress(raw.data(), raw.size(), member); }

  bool Compress(const uint8_t* raw, size_t size, Bytes* member) {
    if (!deflater_) {
      deflater_.reset(libdeflate_alloc_compressor(level_));
      if (!deflater_) return false;
    }
    const size_t bound = libdeflate_gzip_compress_bound(deflater_.get(), size);
    if (scratch_.size() < bound) scratch_.resize(bound);
    const size_t written = libdeflate_gzip_compress(deflater_.get(), raw, size, scratch_.data(), bound);
    if (written == 0) return false;
    member->assign(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(written));
    return true;
  }

  Shared* const outbox_;
  std::atomic<int64_t>* const pending_;
  ChunkPool* const chunks_;
  const int level_;
  const mode_t fileMode_;
  const mode_t dirMode_;
  const bool sync_;
  // Where files are written before they appear in the tree ('' none).
  const std::string stagingDir_;
  // Until the filesystem says it has none (then temporary names, for good).
  bool unnamedFiles_ = true;
  Deflater deflater_;
  // Durability (sync_): directories to fsync and files to report finished
  // once the queue is empty (SyncDirectories).
  std::vector<std::string> dirsToSync_;
  std::vector<std::pair<int32_t, int32_t>> finished_;
  std::chrono::steady_clock::time_point firstUnsynced_;
  Bytes scratch_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool waiting_ = false;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

void Shared::StopThreads() {
  for (auto& t : threads) t->Stop();
}

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

class FlowStore : public Napi::ObjectWrap<FlowStore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FlowStore",
                       {
                           InstanceMethod<&FlowStore::Open>("open"),
                           InstanceMethod<&FlowStore::SetRouter>("setRouter"),
                           InstanceMethod<&FlowStore::BindFlow>("bindFlow"),
                           InstanceMethod<&FlowStore::SetFlowState>("setFlowState"),
                           InstanceMethod<&FlowStore::UnbindFlow>("unbindFlow"),
                           InstanceMethod<&FlowStore::FlowCounts>("flowCounts"),
                           InstanceMethod<&FlowStore::TakeSeen>("takeSeen"),
                           InstanceMethod<&FlowStore::FlushStreams>("flushStreams"),
                           InstanceMethod<&FlowStore::RouteBatch>("route"),
                           InstanceMethod<&FlowStore::Flush>("flush"),
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
    chunkBytes_ = IntegerOption(o, "chunkBytes", false, 64 * 1024, kMinChunkBytes, kMaxChunkBytes);
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
    stream_ = IntegerOption(o, "stream", false, 0, 0, 1) != 0;

    shared_ = std::make_shared<Shared>();
    shared_->chunks = std::make_unique<ChunkPool>(chunkBytes_);
    for (uint32_t i = 0; i < threads; i++) {
      shared_->threads.push_back(std::make_unique<SaverThread>(shared_.get(), level, fileMode, dirMode, sync, stagingDir));
    }
    auto* held = new std::shared_ptr<Shared>(shared_);
    shared_->tsfn = Napi::ThreadSafeFunction::New(
        env, info[1].As<Napi::Function>(), "packet-headers flow store", 0, 1,
        [](Napi::Env, std::shared_ptr<Shared>* s) {
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

 private:
  // open(serial): a slot for a new file; serial names it in events.
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireRunning(env);
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "open(serial: number)");
    const int32_t serial = info[0].As<Napi::Number>().Int32Value();
    uint32_t index;
    if (!freeSlots_.empty()) {
      index = freeSlots_.back();
      freeSlots_.pop_back();
    } else {
      index = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Slot& s = slots_[index];
    s.file = std::make_shared<FileState>(serial);
    s.chunk = Chunk();
    s.nextChunkBytes = kInitialChunkBytes;
    s.thread = nextThread_;
    nextThread_ = (nextThread_ + 1) % static_cast<uint32_t>(shared_->threads.size());
    s.headerWritten = false;
    s.open = true;
    s.route = -1;
    return Napi::Number::New(env, index);
  }

  // setRouter(onFlow, onTick): the JS side of route(). onFlow(at, replaced)
  // is called for a TCP record (description word index `at`) whose flow has
  // no route, or whose connection-opening SYN starts a new connection on the
  // 4-tuple of route `replaced` (else -1); it returns the route the record
  // goes to now (a flow it started), or -1 to drop the record. onTick() is
  // called in packet-time mode when deadlines are due (src/demux/packetclock.ts).
  Napi::Value SetRouter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "setRouter(onFlow: function, onTick: function)");
    }
    // Weak: the JS store holds them as long as it can call route(), and a
    // strong reference here would keep the store (which they reach) forever.
    onFlow_ = Napi::Weak(info[0].As<Napi::Function>());
    onTick_ = Napi::Weak(info[1].As<Napi::Function>());
    return env.Undefined();
  }

  // bindFlow(slot, key: Int32Array, hash, anonymize, headerLength): a route
  // for a flow just started, to the file in `slot` (-1: none, its packets are
  // missed). anonymize: 1 masks endpoint A's address, 2 endpoint B's.
  // headerLength: bytes kept per packet, 0 to have the first packet fix it
  // (its TCP offset plus the largest TCP header). Returns the route.
  Napi::Value BindFlow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsNumber() ||
        !info[3].IsNumber() || !info[4].IsNumber()) {
      throw Napi::TypeError::New(env, "bindFlow(slot, key: Int32Array, hash, anonymize, headerLength)");
    }
    const int64_t slot = info[0].As<Napi::Number>().Int64Value();
    Napi::TypedArray k = info[1].As<Napi::TypedArray>();
    if (k.TypedArrayType() != napi_int32_array || k.ElementLength() != kKeyWords) {
      throw Napi::TypeError::New(env, "bindFlow: key must be an Int32Array of 9 words");
    }
    const int32_t* key = k.As<Napi::Int32Array>().Data();
    const int32_t hash = info[2].As<Napi::Number>().Int32Value();
    if (routes_.Find(hash, key) >= 0) throw Napi::Error::New(env, "bindFlow: the flow has a route already");
    if (slot >= 0) SlotAt(env, slot);
    const int32_t id = routes_.Add(hash, key);
    Route& r = routes_[id];
    r.slot = static_cast<int32_t>(slot);
    r.anonymize = static_cast<uint8_t>(info[3].As<Napi::Number>().Uint32Value() & (kAnonymizeA | kAnonymizeB));
    r.headerLength = info[4].As<Napi::Number>().Uint32Value();
    if (slot >= 0) slots_[static_cast<size_t>(slot)].route = id;
    return Napi::Number::New(env, id);
  }

  // setFlowState(route, state): the flow's new state (src/demux/flow.ts); only
  // UuidWait and Saving take packets. In stream mode a flow that starts saving
  // with records held is flushed at the next flushStreams().
  Napi::Value SetFlowState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Route& r = RouteArg(info);
    if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "setFlowState(route, state)");
    const uint32_t state = info[1].As<Napi::Number>().Uint32Value();
    if (state >= kStateCount) throw Napi::RangeError::New(env, "setFlowState: no such state");
    r.state = static_cast<uint8_t>(state);
    if (stream_ && state == kStateSaving && r.slot >= 0 && !slots_[static_cast<size_t>(r.slot)].chunk.empty()) {
      List(info[0].As<Napi::Number>().Int32Value(), r);
    }
    return env.Undefined();
  }

  // unbindFlow(route): the flow is gone; its packets are unknown again.
  Napi::Value UnbindFlow(const Napi::CallbackInfo& info) {
    Route& r = RouteArg(info);
    const int32_t id = info[0].As<Napi::Number>().Int32Value();
    if (r.slot >= 0 && static_cast<size_t>(r.slot) < slots_.size() && slots_[static_cast<size_t>(r.slot)].route == id) {
      slots_[static_cast<size_t>(r.slot)].route = -1;
    }
    routes_.Remove(id);
    return info.Env().Undefined();
  }

  // flowCounts(route): [packets routed to the flow, packets saved of them,
  // the sequence number of its opening SYN or -1].
  Napi::Value FlowCounts(const Napi::CallbackInfo& info) {
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
    Napi::Env env = info.Env();
    Napi::Uint8Array out = Napi::Uint8Array::New(env, routes_.capacity());
    uint8_t* seen = out.Data();
    for (size_t id = 0; id < routes_.capacity(); id++) {
      Route& r = routes_[static_cast<int32_t>(id)];
      seen[id] = r.used && r.sawPacket ? 1 : 0;
      r.sawPacket = false;
    }
    return out;
  }

  // flushStreams(): stream mode, every flow that stored records while saving
  // since the last call sends its partial chunk to its file.
  Napi::Value FlushStreams(const Napi::CallbackInfo& info) {
    std::vector<int32_t> listed;
    listed.swap(listed_);
    for (const int32_t id : listed) {
      if (!routes_.Valid(id)) continue;
      Route& r = routes_[id];
      if (!r.listed) continue;
      r.listed = false;
      if (r.slot >= 0 && !closed_) Seal(slots_[static_cast<size_t>(r.slot)], true);
    }
    return info.Env().Undefined();
  }

  // route(batch, described, linkType, tallies: Int32Array, clock: Float64Array | null):
  // every record of a batch, in order, to its flow's file: cut to the flow's
  // header length, every byte after the TCP header zero, the addresses its
  // flow anonymizes masked. What only JS can decide goes to setRouter's
  // callbacks, at the record it concerns, so every flow's records stay in
  // capture order. Adds to tallies: [0] records saved, [1 + state] records
  // of flows in that state that were not wanted, [6 + status] records that
  // did not decode, by status. clock (packet-time mode): [0] now, [1] when
  // deadlines are next due, [2] the tick in ms; each record moves it.
  Napi::Value RouteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber() ||
        !info[3].IsTypedArray()) {
      throw Napi::TypeError::New(env, "route(batch: Uint8Array, described: Int32Array, linkType, tallies: Int32Array, clock?)");
    }
    Napi::TypedArray b = info[0].As<Napi::TypedArray>();
    Napi::TypedArray d = info[1].As<Napi::TypedArray>();
    Napi::TypedArray t = info[3].As<Napi::TypedArray>();
    if (b.TypedArrayType() != napi_uint8_array || d.TypedArrayType() != napi_int32_array ||
        t.TypedArrayType() != napi_int32_array || t.ElementLength() < kTallyBad + 1) {
      throw Napi::TypeError::New(env, "route: batch must be a Uint8Array, described and tallies Int32Arrays");
    }
    double* clock = nullptr;
    if (info.Length() > 4 && info[4].IsTypedArray()) {
      Napi::TypedArray c = info[4].As<Napi::TypedArray>();
      if (c.TypedArrayType() != napi_float64_array || c.ElementLength() < 3) {
        throw Napi::TypeError::New(env, "route: clock must be a Float64Array of 3");
      }
      clock = c.As<Napi::Float64Array>().Data();
    }
    if (onFlow_.IsEmpty() || onFlow_.Value().IsEmpty()) throw Napi::Error::New(env, "route: setRouter first");
    // Kept alive by the caller for the whole call, callbacks included.
    const auto batch = b.As<Napi::Uint8Array>();
    const uint8_t* bytes = batch.Data();
    const size_t end = batch.ByteLength();
    const int32_t* described = d.As<Napi::Int32Array>().Data();
    const size_t words = d.ElementLength();
    int32_t* tallies = t.As<Napi::Int32Array>().Data();
    const size_t statuses = t.ElementLength() - kTallyBad;
    const uint32_t linkType = info[2].As<Napi::Number>().Uint32Value();
    // Whatever happens, jobs queued quietly get their threads woken.
    struct WakeAtEnd {
      Shared* shared;
      ~WakeAtEnd() {
        for (auto& th : shared->threads) th->Wake();
      }
    } wake{shared_.get()};

    // Routes looked up ahead, valid while the table has not changed since.
    struct Lookahead {
      size_t index = SIZE_MAX;
      uint64_t generation = 0;
      int32_t id = -1;
    };
    Lookahead lookahead[kLookahead];
    for (size_t at = 0; at + kDescriptionWords <= words; at += kDescriptionWords) {
      const int32_t* desc = described + at;
      const int64_t record = desc[kDRecord];
      if (record < 0 || static_cast<size_t>(record) + kRecordHeaderBytes > end ||
          GetU32LE(bytes + record + 8) > end - static_cast<size_t>(record) - kRecordHeaderBytes) {
        break;  // a corrupt batch
      }
      // Records go to thousands of chunks, so the end of each destination is
      // usually not in cache: the route of the record kPrefetchAhead ahead is
      // looked up now and the end of its chunk asked for, so that the cache
      // misses of several records overlap instead of coming one at a time.
      // Its bucket is asked for twice as far ahead, so that lookup hits.
      const size_t index = at / kDescriptionWords;
      if (at + 2 * kPrefetchAhead * kDescriptionWords < words) {
        const int32_t* far = desc + 2 * kPrefetchAhead * kDescriptionWords;
        if (far[kDStatus] == 0) __builtin_prefetch(routes_.BucketOf(far[kDHash]));
      }
      if (at + kPrefetchAhead * kDescriptionWords < words) {
        const int32_t* ahead = desc + kPrefetchAhead * kDescriptionWords;
        Lookahead& l = lookahead[(index + kPrefetchAhead) % kLookahead];
        l.index = index + kPrefetchAhead;
        l.generation = routes_.generation();
        l.id = ahead[kDStatus] == 0 ? routes_.Find(ahead[kDHash], ahead + kDKey) : -1;
        if (l.id >= 0) Prefetch(routes_[l.id].slot);
      }
      if (clock != nullptr) {
        const double ms = GetU32LE(bytes + record) * 1000.0 + GetU32LE(bytes + record + 4) / 1e6;
        if (ms > clock[0]) clock[0] = ms;
        if (clock[0] >= clock[1]) {
          clock[1] = clock[0] + clock[2];
          Napi::HandleScope scope(env);
          onTick_.Call({});
        }
      }
      const int32_t status = desc[kDStatus];
      if (status != 0) {
        tallies[kTallyBad + (static_cast<size_t>(status) < statuses ? status : 0)]++;
        continue;
      }
      const int32_t hash = desc[kDHash];
      const int32_t flags = desc[kDFlags];
      const bool swapped = (flags & kFlagSwapped) != 0;
      const bool syn = (flags & kFlagOpeningSyn) != 0;
      const uint32_t seq = static_cast<uint32_t>(desc[kDSeq]);
      const Lookahead& l = lookahead[index % kLookahead];
      int32_t id = l.index == index && l.generation == routes_.generation() ? l.id : routes_.Find(hash, desc + kDKey);
      if (id < 0 || (syn && routes_[id].IsNewConnection(seq, swapped))) {
        // A new flow, or (the 4-tuple reused before the old flow timed out)
        // a new connection: JS decides, and says where the record goes.
        Napi::HandleScope scope(env);
        Napi::Value chosen = onFlow_.Call({Napi::Number::New(env, static_cast<double>(at)), Napi::Number::New(env, id)});
        id = chosen.IsNumber() ? chosen.As<Napi::Number>().Int32Value() : -1;
        if (!routes_.Valid(id)) continue;
      }
      Route& r = routes_[id];
      r.sawPacket = true;
      if (syn) r.NoteSyn(seq, swapped);
      r.packetsSeen++;
      if (!r.accepting()) {
        tallies[kTallyMissed + r.state]++;
        continue;
      }
      if (r.linkType < 0) {
        // The first packet fixes the header length: everything before TCP plus
        // the largest TCP header (IPv6 extension headers count as "before"),
        // unless bindFlow fixed it; and the link type.
        if (r.headerLength == 0) r.headerLength = static_cast<uint32_t>(desc[kDTcpOffset]) + kMaxTcpHeaderBytes;
        r.linkType = static_cast<int64_t>(linkType);
      } else if (r.linkType != static_cast<int64_t>(linkType)) {
        // Not a packet this flow's file can hold.
        tallies[kTallyMissed + r.state]++;
        continue;
      }
      if (r.slot < 0) {
        // The flow's file is gone (or never was: the store was closed).
        tallies[kTallyMissed + r.state]++;
        continue;
      }
      const bool ending = (flags & (kFlagFin | kFlagRst)) != 0;
      bool maskSource = false;
      bool maskDestination = false;
      if (r.anonymize != 0) {
        // The packet's source is endpoint A unless the decoder swapped it.
        const uint8_t source = swapped ? kAnonymizeB : kAnonymizeA;
        const uint8_t destination = swapped ? kAnonymizeA : kAnonymizeB;
        maskSource = (r.anonymize & source) != 0;
        maskDestination = (r.anonymize & destination) != 0;
      }
      r.packetsSaved++;
      tallies[kTallySaved]++;
      if (closed_) continue;  // after close(): nothing is written any more
      Slot& s = slots_[static_cast<size_t>(r.slot)];
      AppendRecord(env, s, bytes, end, desc, r.headerLength, maskSource, maskDestination, linkType);
      if (ending && s.chunk.size() >= kEarlyCompressBytes) Seal(s, false);
      if (stream_ && r.state == kStateSaving) List(id, r);
    }
    return env.Undefined();
  }

  // flush(slot): the chunk being filled goes to compression now (stream mode).
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Slot& s = SlotArg(info);
    Seal(s, true);
    return info.Env().Undefined();
  }

  // target(slot, path, stream, writePath): names the file; a streaming file
  // is written from now on, at writePath until its end.
  Napi::Value Target(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Slot& s = SlotArg(info);
    if (info.Length() < 4 || !info[1].IsString() || !info[2].IsBoolean() || !info[3].IsString()) {
      throw Napi::TypeError::New(env, "target(slot, path: string, stream: boolean, writePath: string)");
    }
    const bool stream = info[2].As<Napi::Boolean>().Value();
    // Only a streaming file has anything to do now: its members so far go to disk.
    Push(s,
         Job{JobKind::Target, s.file, Chunk(), info[1].As<Napi::String>().Utf8Value(),
             info[3].As<Napi::String>().Utf8Value(), stream},
         stream);
    return env.Undefined();
  }

  // finish(slot): compresses what is left and completes the file; the slot is
  // closed, and a Finished event with the file's serial follows.
  Napi::Value FinishFile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Slot& s = SlotArg(info);
    Seal(s, false);
    Push(s, Job{JobKind::Finish, s.file, Chunk(), std::string(), std::string(), false}, true);
    if (outstandingFinishes_++ == 0 && !shared_->tsfnFinalized) shared_->tsfn.Ref(env);
    CloseSlot(info[0].As<Napi::Number>().Uint32Value());
    return env.Undefined();
  }

  // discard(slot): nothing of the file will be written; the slot is closed.
  Napi::Value Discard(const Napi::CallbackInfo& info) {
    Slot& s = SlotArg(info);
    // Woken at once: dropping the file frees its memory.
    Push(s, Job{JobKind::Discard, s.file, Chunk(), std::string(), std::string(), false}, true);
    CloseSlot(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  // takeEvents(): every event since the last call, kEventWords words each.
  Napi::Value TakeEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<int32_t> taken;
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      taken.swap(shared_->events);
    }
    Napi::Int32Array out = Napi::Int32Array::New(env, taken.size());
    if (!taken.empty()) std::memcpy(out.Data(), taken.data(), taken.size() * sizeof(int32_t));
    for (size_t i = 0; i < taken.size(); i += kEventWords) {
      if (taken[i] == kEventFinished && outstandingFinishes_ > 0 && --outstandingFinishes_ == 0 && !closed_ &&
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
    if (closed_ || !shared_) return Napi::Boolean::New(env, true);
    closed_ = true;
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
    if (closed_) return;
    closed_ = true;
    if (!shared_) return;
    shared_->StopThreads();
    if (!shared_->tsfnFinalized) shared_->tsfn.Release();
  }

  void RequireRunning(Napi::Env env) {
    if (closed_) throw Napi::Error::New(env, "FlowStore is closed");
  }

  Slot& SlotAt(Napi::Env env, int64_t index) {
    if (index < 0 || static_cast<size_t>(index) >= slots_.size() || !slots_[static_cast<size_t>(index)].open) {
      throw Napi::RangeError::New(env, "FlowStore: no open file in slot " + std::to_string(index));
    }
    return slots_[static_cast<size_t>(index)];
  }

  Slot& SlotArg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireRunning(env);
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "slot must be a number");
    return SlotAt(env, info[0].As<Napi::Number>().Int64Value());
  }

  void CloseSlot(uint32_t index) {
    Slot& s = slots_[index];
    if (s.route >= 0 && routes_.Valid(s.route) && routes_[s.route].slot == static_cast<int32_t>(index)) {
      routes_[s.route].slot = -1;
    }
    s.route = -1;
    s.file.reset();
    shared_->chunks->Give(std::move(s.chunk));
    s.chunk = Chunk();
    s.open = false;
    freeSlots_.push_back(index);
  }

  void Push(Slot& s, Job job, bool wake) {
    ++shared_->pending;
    shared_->threads[s.thread]->Push(std::move(job), wake);
  }

  void Prefetch(int32_t slot) const {
    if (slot < 0 || static_cast<size_t>(slot) >= slots_.size()) return;
    const Chunk& chunk = slots_[static_cast<size_t>(slot)].chunk;
    if (chunk.data() == nullptr) return;
    const uint8_t* end = chunk.data() + chunk.size();
    __builtin_prefetch(end, 1);
    __builtin_prefetch(end + 64, 1);
    __builtin_prefetch(end + 128, 1);
  }

  Route& RouteArg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "route must be a number");
    const int64_t id = info[0].As<Napi::Number>().Int64Value();
    if (!routes_.Valid(id)) throw Napi::RangeError::New(env, "FlowStore: no route " + std::to_string(id));
    return routes_[static_cast<int32_t>(id)];
  }

  // Stream mode: the flow is flushed at the next flushStreams().
  void List(int32_t id, Route& r) {
    if (r.listed) return;
    r.listed = true;
    listed_.push_back(id);
  }

  // The full (or, when flushing, partial) chunk goes to compression.
  // `wake`: the thread is woken now rather than at the end of the batch.
  void Seal(Slot& s, bool wake) {
    if (s.chunk.empty()) return;
    Push(s, Job{JobKind::Compress, s.file, std::move(s.chunk), std::string(), std::string(), false}, wake);
    s.chunk = Chunk();
  }

  // Room for `bytes` more in the slot's chunk: it grows to chunkBytes_, then a new one starts.
  void Reserve(Slot& s, size_t bytes) {
    const size_t used = s.chunk.size();
    if (used + bytes <= s.chunk.capacity()) return;
    if (used > 0 && s.chunk.capacity() < chunkBytes_) {
      const size_t size = std::min(chunkBytes_, std::max(s.chunk.capacity() * 2, used + bytes));
      if (used + bytes <= size) {
        s.chunk.Grow(size);
        s.nextChunkBytes = size;
        return;
      }
    }
    Seal(s, false);
    s.chunk = shared_->chunks->Take(std::max(s.nextChunkBytes, bytes));
  }

  // One capture record as a pcap record of at most headerLength bytes: headers
  // copied, every byte after the TCP header zero, chosen addresses masked.
  void AppendRecord(Napi::Env env, Slot& s, const uint8_t* batch, size_t batchLength, const int32_t* d,
                    uint32_t headerLength, bool maskSource, bool maskDestination, uint32_t linkType) {
    const int64_t record = d[kDRecord];
    if (record < 0 || static_cast<size_t>(record) + kRecordHeaderBytes > batchLength) {
      throw Napi::RangeError::New(env, "append: record outside the batch");
    }
    const uint8_t* header = batch + record;
    const uint32_t caplen = GetU32LE(header + 8);
    if (caplen > batchLength - static_cast<size_t>(record) - kRecordHeaderBytes) {
      throw Napi::RangeError::New(env, "append: record outside the batch");
    }
    const uint32_t included = std::min(caplen, headerLength);
    const size_t fileHeader = s.headerWritten ? 0 : kPcapFileHeaderBytes;
    Reserve(s, fileHeader + kPcapRecordHeaderBytes + included);
    uint8_t* out = s.chunk.Extend(fileHeader + kPcapRecordHeaderBytes + included);
    size_t at = 0;
    if (fileHeader != 0) {
      PutU32LE(out + at, kPcapMagicNanoseconds);
      out[at + 4] = 2;  // version 2.4, little-endian
      out[at + 5] = 0;
      out[at + 6] = 4;
      out[at + 7] = 0;
      PutU32LE(out + at + 8, 0);   // thiszone: timestamps are UTC
      PutU32LE(out + at + 12, 0);  // sigfigs
      PutU32LE(out + at + 16, headerLength);
      PutU32LE(out + at + 20, linkType);
      at += kPcapFileHeaderBytes;
      s.headerWritten = true;
    }
    // Timestamps and origlen are in pcap's layout already; only caplen changes.
    std::memcpy(out + at, header, 8);
    PutU32LE(out + at + 8, included);
    std::memcpy(out + at + 12, header + 12, 4);
    uint8_t* frame = out + at + kPcapRecordHeaderBytes;
    const int64_t payloadStart = static_cast<int64_t>(d[kDTcpOffset]) + d[kDTcpHeaderLength];
    const size_t headers = static_cast<size_t>(std::clamp<int64_t>(payloadStart, 0, included));
    std::memcpy(frame, header + kRecordHeaderBytes, headers);
    std::memset(frame + headers, 0, included - headers);
    if (maskSource || maskDestination) {
      const bool v6 = (d[kDFlags] & kFlagIpv6) != 0;
      if (maskSource) MaskAddress(frame, included, d[kDSourceAddress], v6);
      if (maskDestination) MaskAddress(frame, included, d[kDDestinationAddress], v6);
    }
  }

  // Keeps an IPv4 address's /24 and an IPv6 address's /48 (src/saver/anonymize.ts).
  static void MaskAddress(uint8_t* frame, size_t length, int32_t offset, bool v6) {
    const size_t size = v6 ? 16 : 4;
    if (offset < 0 || static_cast<size_t>(offset) + size > length) return;
    if (v6) {
      std::memset(frame + offset + 6, 0, 10);
    } else {
      frame[offset + 3] = 0;
    }
  }

  size_t chunkBytes_ = 64 * 1024;
  bool stream_ = false;
  RouteTable routes_;
  // Stream mode: flows that stored records while saving since the last flushStreams().
  std::vector<int32_t> listed_;
  Napi::FunctionReference onFlow_;
  Napi::FunctionReference onTick_;
  std::shared_ptr<Shared> shared_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> freeSlots_;
  uint32_t nextThread_ = 0;
  int64_t outstandingFinishes_ = 0;
  bool closed_ = false;
};

}  // namespace

Napi::Function DefineFlowStoreClass(Napi::Env env) { return FlowStore::Define(env); }

}  // namespace ph
