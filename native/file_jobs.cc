// The jobs of the flow store's threads on files (file_jobs.h): compression
// of chunks into gzip members, and the life of a file on disk, buffered
// (written whole at its end) or streamed (written member by member).
#include "file_jobs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <new>

#include "layout.h"
#include "store_threads.h"

namespace ph {
namespace {

// What Finish's helpers return for a file with nothing in it, and for one
// whose name waits for the batch's syncfs (not errnos).
constexpr int kNothingWritten = -1;
constexpr int kWaitsForSync = -2;
// Files waiting for one syncfs at most: each holds a descriptor until then.
constexpr size_t kMaxUnpublishedFiles = 64;
// A store thread that never runs out of work still fsyncs its directories
// (and reports those files finished) after this many files or this long.
constexpr size_t kMaxUnsyncedFiles = 256;
constexpr std::chrono::milliseconds kMaxUnsyncedTime{100};

}  // namespace

void FileJobs::Run(Job& job) {
  try {
    Execute(job);
  } catch (const std::bad_alloc&) {
    Fail(*job.file, job.kind == JobKind::Compress ? kStageCompress : kStageWrite, ENOMEM);
    if (job.kind == JobKind::Finish) outbox_->Post(kEventFinished, job.file->serial, kFinishedFailed, 0);
  }
}

void FileJobs::AfterJob(bool idle) {
  if (!finished_.empty() || !unpublished_.empty()) {
    if (idle || finished_.size() >= kMaxUnsyncedFiles || unpublished_.size() >= kMaxUnpublishedFiles ||
        std::chrono::steady_clock::now() - firstUnsynced_ >= kMaxUnsyncedTime) {
      const bool published = !unpublished_.empty();
      if (published) PublishDurable();
      // Under load, the names just linked wait for the next batch's syncfs
      // (PublishDurable), which makes them durable too: one journal commit a
      // batch instead of two. The directories are fsynced only when the
      // thread runs out of work, or when no syncfs is coming (no file waits
      // for one).
      if (idle || !published) SyncDirectories();
    }
  }
  if (idle) dirs_.Clear();  // an idle thread holds no directory open
}

// One syncfs for every file waiting (the filesystem of the staging
// directory, or of the datadir without one, holds them all), then their
// names: a name never shows a file whose bytes are not on disk, and the
// journal commits once for the batch instead of once a file.
void FileJobs::PublishDurable() {
  const int front = unpublished_.front().fd;
  const int synced = syncfs(front) == 0 ? 0 : errno;
  // The names linked before it are durable now too (a syncfs commits the
  // filesystem's metadata as well as its data): their files are reported,
  // and their directories need no fsync, if all are on the filesystem just
  // synced.
  if (synced == 0 && !finished_.empty() && OnFilesystemOf(*unpublished_.front().file, dirsToSync_)) {
    dirsToSync_.clear();
    for (const auto& f : finished_) outbox_->Post(kEventFinished, f.first, f.second, 0);
    finished_.clear();
  }
  for (Waiting& waiting : unpublished_) {
    FileState& file = *waiting.file;
    int error = synced;
    if (file.stream) {
      if (error == 0) error = CloseStream(file);
    } else if (error == 0) {
      error = LinkAndAnnounce(waiting.fd, file);
    } else {
      close(waiting.fd);
    }
    Finished(file, Outcome(file, error));
  }
  unpublished_.clear();
  // The names linked now wait at most kMaxUnsyncedTime from here.
  if (!finished_.empty()) firstUnsynced_ = std::chrono::steady_clock::now();
}

// Whether every directory of `dirs` is on the filesystem where `file` was
// written (the directory it was made in: the devices are asked once per
// directory handle, not once per batch).
bool FileJobs::OnFilesystemOf(const FileState& file, const std::vector<std::string>& dirs) {
  const std::string madeIn =
      file.stream ? DirectoryOf(file.writePath) : stagingDir_.empty() ? DirectoryOf(file.path) : stagingDir_;
  dev_t synced;
  if (dirs_.Device(madeIn, &synced) != 0) return false;
  for (const std::string& dir : dirs) {
    dev_t dev;
    if (dirs_.Device(dir, &dev) != 0 || dev != synced) return false;
  }
  return true;
}

// A finished file's result: at once, or with sync_ once its directory is
// fsynced (SyncDirectories).
void FileJobs::Finished(FileState& file, int32_t result) {
  if (!sync_ || result != kFinishedWritten) {
    outbox_->Post(kEventFinished, file.serial, result, 0);
    return;
  }
  if (finished_.empty() && unpublished_.empty()) firstUnsynced_ = std::chrono::steady_clock::now();
  std::string dir = DirectoryOf(file.path);
  if (dirsToSync_.empty() || dirsToSync_.back() != dir) dirsToSync_.push_back(std::move(dir));
  finished_.emplace_back(file.serial, result);
}

// What the end of a file's writing comes to: an error fails the file.
int32_t FileJobs::Outcome(FileState& file, int error) {
  if (error == 0) return kFinishedWritten;
  if (file.stream) {
    StreamFailed(file, error);
  } else {
    Fail(file, kStageWrite, error);
  }
  return kFinishedFailed;
}

void FileJobs::Unpublished(const std::shared_ptr<FileState>& file, int fd) {
  if (finished_.empty() && unpublished_.empty()) firstUnsynced_ = std::chrono::steady_clock::now();
  unpublished_.push_back(Waiting{file, fd});
}

// Durability, batched: the directories of the files finished since the
// thread last ran out of work (or since kMaxUnsyncedFiles files or
// kMaxUnsyncedTime, under load that never lets it) are fsynced once each,
// and only then are those files reported finished.
void FileJobs::SyncDirectories() {
  std::sort(dirsToSync_.begin(), dirsToSync_.end());
  dirsToSync_.erase(std::unique(dirsToSync_.begin(), dirsToSync_.end()), dirsToSync_.end());
  for (const std::string& dir : dirsToSync_) {
    int dirfd = AT_FDCWD;
    bool opened = false;
    if (dirs_.Get(dir, false, 0, &dirfd, &opened) != 0) continue;
    // Errors are ignored, as ever: the files are there either way.
    if (dirfd == AT_FDCWD) {
      SyncDirectory(dir);
    } else if (fsync(dirfd) != 0 && errno != EBADF && !opened) {
      // EBADF: an O_PATH handle, of a directory this process may not open
      // to fsync. Otherwise the handle may be stale: once more, by path.
      dirs_.Drop(dir);
      SyncDirectory(dir);
    }
  }
  dirsToSync_.clear();
  for (const auto& f : finished_) outbox_->Post(kEventFinished, f.first, f.second, 0);
  finished_.clear();
}

void FileJobs::Execute(Job& job) {
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
      const int32_t result = Finish(job.file);
      if (result != kWaitsForSync) Finished(file, result);  // else PublishDurable reports it
      return;
    }
  }
}

int32_t FileJobs::Finish(const std::shared_ptr<FileState>& shared) {
  FileState& file = *shared;
  if (file.failed) return kFinishedFailed;
  if (file.discarded || file.path.empty()) return kFinishedEmpty;
  const int error = file.stream ? FinishStream(shared) : PublishWhole(shared);
  file.members = std::vector<Bytes>();
  if (error == kNothingWritten) return kFinishedEmpty;
  if (error == kWaitsForSync) return kWaitsForSync;
  return Outcome(file, error);
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
int FileJobs::PublishWhole(const std::shared_ptr<FileState>& shared) {
  FileState& file = *shared;
  if (file.members.empty()) return kNothingWritten;
  const Pieces pieces = PiecesOf(file.members, 0);
  const std::string& dir = stagingDir_.empty() ? DirectoryOf(file.path) : stagingDir_;
  if (unnamedFiles_) {
    // Once a link has worked, the name waits for the batch's syncfs.
    const bool batched = sync_ && linksWork_;
    int fd = -1;
    int error = OpenUnnamed(dir, &fd);
    if (error == 0) {
      error = WritePieces(fd, pieces);
      if (error == 0 && sync_ && !batched && fdatasync(fd) != 0) error = errno;
      if (error != 0) {
        close(fd);  // nothing left behind: an unnamed file dies with it
        fd = -1;
      }
    }
    if (error == 0 && batched) {
      Unpublished(shared, fd);
      return kWaitsForSync;
    }
    if (error == 0) {
      error = LinkAndAnnounce(fd, file);
      if (error == 0) linksWork_ = true;
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

// A new unnamed file in `dir` (made when missing), open on `*fd`.
int FileJobs::OpenUnnamed(const std::string& dir, int* fd) {
  int dirfd = AT_FDCWD;
  bool opened = false;
  int error = dirs_.Get(dir, true, dirMode_, &dirfd, &opened);
  if (error != 0) return error;
  if (dirfd == AT_FDCWD) {
    error = OpenUnnamedAt(AT_FDCWD, dir.c_str(), fileMode_, fd);
    if (error != ENOENT) return error;
    error = MakeDirectories(dir, dirMode_);
    return error != 0 ? error : OpenUnnamedAt(AT_FDCWD, dir.c_str(), fileMode_, fd);
  }
  error = OpenUnnamedAt(dirfd, ".", fileMode_, fd);
  if (error == 0 || opened) return error;
  // The handle may be stale (its directory removed): once more with a fresh one.
  dirs_.Drop(dir);
  error = dirs_.Get(dir, true, dirMode_, &dirfd);
  return error != 0 ? error : OpenUnnamedAt(dirfd, ".", fileMode_, fd);
}

// The unnamed file open on `fd` linked to the file's name, or where that is
// taken to the first free <UUID>.N.pcap.gz (a file published is never
// replaced); `*dirfd` is then its directory's handle (AT_FDCWD: none, and
// file.path is to be used whole). EOPNOTSUPP: no way to link (AT_EMPTY_PATH
// refused and no /proc).
int FileJobs::LinkFirstFree(int fd, FileState& file, int* dirfd) {
  const std::string dir = DirectoryOf(file.path);
  const auto nameOf = [dirfd](const std::string& path) { return *dirfd == AT_FDCWD ? path : BaseName(path); };
  bool opened = false;
  int error = dirs_.Get(dir, true, dirMode_, dirfd, &opened);
  if (error != 0) return error;
  error = LinkUnnamedAt(fd, *dirfd, nameOf(file.path).c_str(), &emptyPathLinks_);
  if (error == ENOENT && *dirfd == AT_FDCWD) {
    // The day's directory is made ahead (src/saver/daydirectories.ts); made here only if it went.
    error = MakeDirectories(dir, dirMode_);
    if (error != 0) return error;
    error = LinkUnnamedAt(fd, AT_FDCWD, file.path.c_str(), &emptyPathLinks_);
  } else if (error != 0 && error != EEXIST && !opened && *dirfd != AT_FDCWD) {
    // The handle may be stale (its directory removed): once more with a fresh one.
    dirs_.Drop(dir);
    error = dirs_.Get(dir, true, dirMode_, dirfd);
    if (error != 0) return error;
    error = LinkUnnamedAt(fd, *dirfd, nameOf(file.path).c_str(), &emptyPathLinks_);
  }
  if (error == ENOENT) return EOPNOTSUPP;  // the directory is there
  for (int n = 1; error == EEXIST && n <= kMaxNumberedNames; n++) {
    const std::string candidate = NumberedPath(file.path, n);
    error = LinkUnnamedAt(fd, *dirfd, nameOf(candidate).c_str(), &emptyPathLinks_);
    if (error == 0) Numbered(file, candidate, n);
  }
  return error;
}

// The durable unnamed file on `fd` linked to its name, closed, and the name
// opened for writing and closed (the one close an uploader hears).
int FileJobs::LinkAndAnnounce(int fd, FileState& file) {
  int dirfd = AT_FDCWD;
  const int error = LinkFirstFree(fd, file, &dirfd);
  close(fd);
  if (error == 0) AnnounceWrittenAt(dirfd, dirfd == AT_FDCWD ? file.path.c_str() : BaseName(file.path).c_str());
  return error;
}

// rename(2) of `from` to the file's name, or where that is taken to the
// first free <UUID>.N.pcap.gz; never replaces.
int FileJobs::MoveFirstFree(const std::string& from, FileState& file) {
  int error = MoveNoReplace(from, file.path, dirMode_);
  for (int n = 1; error == EEXIST && n <= kMaxNumberedNames; n++) {
    const std::string candidate = NumberedPath(file.path, n);
    error = MoveNoReplace(from, candidate, dirMode_);
    if (error == 0) Numbered(file, candidate, n);
  }
  return error;
}

void FileJobs::Numbered(FileState& file, const std::string& path, int n) {
  file.path = path;
  outbox_->Post(kEventNumbered, file.serial, n, 0);
}

// Stream mode: members are written as they are made to the file's write
// path, through one descriptor held from the first member to the end.
void FileJobs::AppendMembers(FileState& file) {
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
int FileJobs::StartStream(FileState& file) {
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
int FileJobs::FinishStream(const std::shared_ptr<FileState>& shared) {
  FileState& file = *shared;
  if (!file.members.empty()) AppendMembers(file);
  if (file.failed) return EIO;  // reported by AppendMembers
  if (file.fd < 0) return kNothingWritten;
  if (sync_) {
    // Closed and moved in once the batch's syncfs has made it durable.
    Unpublished(shared, file.fd);
    return kWaitsForSync;
  }
  return CloseStream(file);
}

// The durable stream file closed and, from the staging directory, moved
// into the tree.
int FileJobs::CloseStream(FileState& file) {
  const int error = close(file.fd) != 0 ? errno : 0;
  file.fd = -1;
  if (error != 0 || file.writePath == file.path) return error;
  return MoveFirstFree(file.writePath, file);
}

// A stream file that lost a member is not a faithful record: it is removed.
void FileJobs::StreamFailed(FileState& file, int error) {
  if (file.fd >= 0) {
    close(file.fd);
    file.fd = -1;
    unlink(file.writePath.c_str());
  }
  Fail(file, kStageWrite, error);
}

Pieces FileJobs::PiecesOf(const std::vector<Bytes>& members, size_t from) {
  Pieces pieces;
  for (size_t i = from; i < members.size(); i++) pieces.emplace_back(members[i].data(), members[i].size());
  return pieces;
}

void FileJobs::Fail(FileState& file, int32_t stage, int error) {
  if (file.failed) return;
  file.failed = true;
  file.members = std::vector<Bytes>();
  outbox_->Post(kEventFailed, file.serial, stage, error);
}

bool FileJobs::Compress(const uint8_t* raw, size_t size, Bytes* member) {
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

}  // namespace ph
