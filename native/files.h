// The few file operations the flow store's threads need, with plain blocking
// system calls (a thread of their own is what they are for). Each returns 0 or
// an errno value.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ph {

using Bytes = std::vector<uint8_t>;
// Byte ranges written one after the other.
using Pieces = std::vector<std::pair<const uint8_t*, size_t>>;

constexpr size_t kPcapHeaderBytes = 24;
// Numbered names tried before a file whose name is taken gives up (EEXIST).
constexpr int kMaxNumberedNames = 1000;

// mkdir -p: every missing directory of `dir` is made with `mode`.
int MakeDirectories(const std::string& dir, mode_t mode);

std::string DirectoryOf(const std::string& path);

// ".NAME.PID.tmp" beside `path`, or in `dir` when given: the only name this
// daemon writes that is not a finished file (removed at start-up if a run
// left one, src/saver/leftovers.ts).
std::string TemporaryPathFor(const std::string& path, const std::string& dir = std::string());

// `<dir>/<UUID>.N.pcap.gz` for `<dir>/<UUID>.pcap.gz` (".N" appended to
// other names): the name of a flow's file when `path` is taken.
std::string NumberedPath(const std::string& path, int n);

// `pieces` written to `fd` at its current offset, gathered (writev: one
// system call for up to IOV_MAX pieces, more only after a short write).
int WritePieces(int fd, const Pieces& pieces);

// `pieces` written to `temporary` (created or truncated), made durable
// (fdatasync) when `sync`. The directory is made when missing. Nothing is left
// behind on failure.
int WriteTemporary(const std::string& temporary, const Pieces& pieces, mode_t mode, mode_t dirMode, bool sync);

// System calls relative to a directory: `dirfd` is a directory's descriptor
// (DirectoryHandles) and `name` a name in it, or `dirfd` is AT_FDCWD and
// `name` a whole path.

// A new file with no name yet (O_TMPFILE) in the directory `dirfd`/`dir`
// ("." for the directory itself), open for writing on `*fd`. EOPNOTSUPP when
// the filesystem (or kernel) has no unnamed files. Nothing is left behind,
// nor after a crash: an unnamed file dies with its descriptor.
int OpenUnnamedAt(int dirfd, const char* dir, mode_t mode, int* fd);

// Gives the unnamed file open on `fd` the name `dirfd`/`name`; EEXIST when
// the name is taken (never replaces); ENOENT when the directory is missing,
// or there is no way to link (below). Tried first with AT_EMPTY_PATH, which
// Linux allows since 6.10 to the credentials that opened the file and before
// that only with CAP_DAC_READ_SEARCH (which a daemon run with -user has
// dropped): refused, `*emptyPath` becomes false for good and the link goes
// through /proc/self/fd (AT_SYMLINK_FOLLOW).
int LinkUnnamedAt(int fd, int dirfd, const char* name, bool* emptyPath);

// The file `dirfd`/`name` opened for writing and closed, unchanged: the close
// is what an inotify uploader (IN_CLOSE_WRITE) hears of a file that appeared
// by a link. Errors are ignored: the file is there either way.
void AnnounceWrittenAt(int dirfd, const char* name);

// The part of `path` after its last '/'.
std::string BaseName(const std::string& path);

// Directories kept open while a store thread is busy, so that the system
// calls of a burst of files are made relative to their directory's
// descriptor (one name looked up, not a whole path) and a directory is
// opened once to be fsynced for them all. A directory's first use since the
// last Clear() gets no handle (AT_FDCWD: the caller goes by path, as if there
// were no handles), so a lone file costs no more system calls than without
// them; its next use opens one. The thread clears them whenever it runs out
// of work: an idle daemon holds no directory open (and keeps no filesystem
// from being unmounted). An operation relative to a held handle that fails
// is retried once with a fresh one (Drop, then Get), so that a stale handle
// (its directory removed) never changes an outcome.
class DirectoryHandles {
 public:
  DirectoryHandles() = default;
  DirectoryHandles(const DirectoryHandles&) = delete;
  DirectoryHandles& operator=(const DirectoryHandles&) = delete;
  ~DirectoryHandles() { Clear(); }

  // `*fd`: a descriptor of `dir` held here, or AT_FDCWD at the directory's
  // first use. The descriptor is O_RDONLY (it can be fsynced), or O_PATH
  // where the directory may not be read (fsync then fails with EBADF, as
  // opening it to fsync did). With `make`, the directory is made (mkdir -p,
  // `dirMode`) when it is missing. `*opened`: the descriptor was opened by
  // this call, so a failure relative to it is not a stale handle's.
  int Get(const std::string& dir, bool make, mode_t dirMode, int* fd, bool* opened = nullptr);
  // The device (st_dev) of `dir`: of its handle, or by path; asked once
  // while the entry lasts.
  int Device(const std::string& dir, dev_t* dev);
  // Closes the handle of `dir`, if held.
  void Drop(const std::string& dir);
  // Closes every handle and forgets every use.
  void Clear();

 private:
  struct Entry {
    std::string dir;
    int fd;  // -1: used once, not opened
    dev_t dev = 0;
    bool devKnown = false;
  };
  // A few: the staging directory and a day directory or two.
  static constexpr size_t kMaxEntries = 8;
  std::vector<Entry> entries_;
};

// rename(2) that never replaces: EEXIST when `to` exists (renameat2
// RENAME_NOREPLACE; link + unlink where the filesystem lacks it). The
// directory of `to` is made when missing.
int MoveNoReplace(const std::string& from, const std::string& to, mode_t dirMode);

// fsync of a directory, so that the names made in it survive a crash.
int SyncDirectory(const std::string& dir);

// Creates `path` exclusively (EEXIST when it exists), its directory made when
// missing, open for writing at its end.
int CreateExclusive(const std::string& path, mode_t mode, mode_t dirMode, int* fd);

// What an existing file holds, read through `fd`.
struct ExistingFile {
  // A gzip stream of whole members, each holding whole pcap records, starting
  // with a pcap file header.
  bool usable = false;
  uint8_t header[kPcapHeaderBytes] = {};
  // End of the last complete member: a stream file cut by a crash has a
  // partial member after it. Equal to `size` for a complete file.
  off_t validEnd = 0;
  off_t size = 0;
  // The file's bytes up to validEnd (kept only when `keep`).
  Bytes content;
};

// Reads and checks the file open on `fd` (see ExistingFile). A tail after the
// last complete member counts as a crash's partial member only when no whole
// member starts anywhere in it; otherwise the file is damaged, not cut.
int InspectExisting(int fd, bool keep, ExistingFile* out);

// What PublishStaged did with a stream file that a run left in the staging
// directory.
struct StagedResult {
  // 0 published under `to`, N > 0 under <UUID>.N.pcap.gz, -1 removed (no
  // complete member in it).
  int numbered = 0;
  // Bytes of a partial gzip member cut off its end.
  off_t cutBytes = 0;
};

// A stream file of an earlier run, cut to its last complete member, made
// durable and moved into the tree as `to` (the first free numbered name
// where `to` is taken); removed if no complete member is in it.
int PublishStaged(const std::string& from, const std::string& to, mode_t dirMode, StagedResult* out);

}  // namespace ph
