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

// `pieces` written to `fd` at its current offset.
int WritePieces(int fd, const Pieces& pieces);

// `pieces` written to `temporary` (created or truncated), made durable
// (fdatasync) when `sync`. The directory is made when missing. Nothing is left
// behind on failure.
int WriteTemporary(const std::string& temporary, const Pieces& pieces, mode_t mode, mode_t dirMode, bool sync);

// `pieces` written to a new file in `dir` that has no name yet (O_TMPFILE),
// made durable (fdatasync) when `sync`, left open on `*fd`; `dir` is made when
// missing. EOPNOTSUPP when the filesystem (or kernel) has no unnamed files.
// Nothing is left behind on failure, nor after a crash: an unnamed file dies
// with its descriptor.
int WriteUnnamed(const std::string& dir, const Pieces& pieces, mode_t mode, mode_t dirMode, bool sync, int* fd);

// Gives the unnamed file open on `fd` the name `path`; EEXIST when the name
// is taken (never replaces); ENOENT when the directory is missing, or there
// is no /proc to link through.
int LinkUnnamed(int fd, const std::string& path);

// The file at `path` opened for writing and closed, unchanged: the close is
// what an inotify uploader (IN_CLOSE_WRITE) hears of a file that appeared by
// a link. Errors are ignored: the file is there either way.
void AnnounceWritten(const std::string& path);

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
