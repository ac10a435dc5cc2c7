// What the flow store's threads do to a file: compress a chunk of its records
// into a gzip member, name it, finish it (write, make durable, publish), or
// drop it. Each file is pinned to one thread (store_threads.h), so its jobs
// run in the order JS issued them and its FileState needs no lock. The system
// calls themselves are in files.h; results go back to JS as events
// (layout.h kEvent*) through the store's outbox.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chunk.h"
#include "deflate.h"
#include "files.h"

namespace ph {

struct StoreShared;

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

// The jobs of one store thread, and what they keep between jobs: the
// compressor, and (with sync) the files finished but not yet reported.
class FileJobs {
 public:
  // `outbox` and `chunks` outlive the thread that runs these jobs.
  FileJobs(StoreShared* outbox, ChunkPool* chunks, int level, mode_t fileMode, mode_t dirMode, bool sync,
           std::string stagingDir)
      : outbox_(outbox),
        chunks_(chunks),
        level_(level),
        fileMode_(fileMode),
        dirMode_(dirMode),
        sync_(sync),
        stagingDir_(std::move(stagingDir)) {}

  // Files still waiting for their syncfs are lost with the store (a store
  // closed with jobs queued drops them too); their descriptors are not.
  ~FileJobs() {
    for (const Waiting& waiting : unpublished_) {
      if (!waiting.file->stream) close(waiting.fd);
    }
  }

  // Carries out one job; out of memory fails its file.
  void Run(Job& job);

  // After each job: `idle`, the thread's queue is empty. Syncs the
  // directories of finished files and reports them when it is time.
  void AfterJob(bool idle);

 private:
  void SyncDirectories();
  void PublishDurable();
  bool OnFilesystemOf(const FileState& file, const std::vector<std::string>& dirs);
  void Finished(FileState& file, int32_t result);
  int32_t Outcome(FileState& file, int error);
  int LinkAndAnnounce(int fd, FileState& file);
  int CloseStream(FileState& file);
  void Execute(Job& job);
  int32_t Finish(const std::shared_ptr<FileState>& file);
  int PublishWhole(const std::shared_ptr<FileState>& file);
  int OpenUnnamed(const std::string& dir, int* fd);
  int LinkFirstFree(int fd, FileState& file, int* dirfd);
  int MoveFirstFree(const std::string& from, FileState& file);
  void Numbered(FileState& file, const std::string& path, int n);
  void AppendMembers(FileState& file);
  int StartStream(FileState& file);
  int FinishStream(const std::shared_ptr<FileState>& file);
  void Unpublished(const std::shared_ptr<FileState>& file, int fd);
  void StreamFailed(FileState& file, int error);
  static Pieces PiecesOf(const std::vector<Bytes>& members, size_t from);
  void Fail(FileState& file, int32_t stage, int error);
  bool Compress(const Chunk& raw, Bytes* member) { return Compress(raw.data(), raw.size(), member); }
  bool Compress(const uint8_t* raw, size_t size, Bytes* member);

  StoreShared* const outbox_;
  ChunkPool* const chunks_;
  const int level_;
  const mode_t fileMode_;
  const mode_t dirMode_;
  const bool sync_;
  // Where files are written before they appear in the tree ('' none).
  const std::string stagingDir_;
  // Until the filesystem says it has none (then temporary names, for good).
  bool unnamedFiles_ = true;
  // Until the kernel refuses linkat(AT_EMPTY_PATH) (then /proc, for good).
  bool emptyPathLinks_ = true;
  // Directories kept open: the staging directory, where unnamed files are
  // made, and the day directories, where they are linked, announced and
  // fsynced relative to that descriptor.
  DirectoryHandles dirs_;
  // An unnamed file was linked to its name (so /proc works): from then on
  // the link of a finished file may wait for the batch's syncfs.
  bool linksWork_ = false;
  // Durability (sync_), batched: files written whole (unnamed, or a stream
  // file still open) whose names appear only after one syncfs has made them
  // all durable (PublishDurable), instead of one fdatasync each.
  struct Waiting {
    std::shared_ptr<FileState> file;
    int fd;
  };
  std::vector<Waiting> unpublished_;
  Deflater deflater_;
  // Durability (sync_): directories to fsync and files to report finished
  // once the queue is empty (SyncDirectories).
  std::vector<std::string> dirsToSync_;
  std::vector<std::pair<int32_t, int32_t>> finished_;
  std::chrono::steady_clock::time_point firstUnsynced_;
  Bytes scratch_;
};

}  // namespace ph
