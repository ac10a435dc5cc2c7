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

// mkdir -p: every missing directory of `dir` is made with `mode`.
int MakeDirectories(const std::string& dir, mode_t mode);

std::string DirectoryOf(const std::string& path);

// ".NAME.PID.tmp" beside `path`: the only name this daemon writes that is not
// a finished file (removed at start-up if a run left one, src/saver/leftovers.ts).
std::string TemporaryPathFor(const std::string& path);

// `<dir>/<UUID>.N.pcap.gz` for `<dir>/<UUID>.pcap.gz` (".N" appended to
// other names): the name of a flow's file when `path` exists and cannot take
// its records.
std::string NumberedPath(const std::string& path, int n);

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
// is taken (never replaces). One directory operation, where a temporary name
// and a rename are two.
int LinkUnnamed(int fd, const std::string& path);

// rename(2) that never replaces: EEXIST when `to` exists (renameat2
// RENAME_NOREPLACE; link + unlink where the filesystem lacks it).
int RenameNoReplace(const std::string& from, const std::string& to);

// fsync of a directory, so that the names made in it survive a crash.
int SyncDirectory(const std::string& dir);

// fdatasync of an existing file.
int SyncFile(const std::string& path);

// Creates `path` exclusively (EEXIST when it exists), its directory made when
// missing, open for writing at its end.
int CreateExclusive(const std::string& path, mode_t mode, mode_t dirMode, int* fd);

// `pieces` written to `fd` at its current offset, then the descriptor closed.
int WriteAndClose(int fd, const Pieces& pieces, bool sync);

// `pieces` appended to an existing `path` (never created: a stream file that
// vanished must not come back without its pcap header).
int AppendToFile(const std::string& path, const Pieces& pieces);

// Opens an existing `path` with `flags` and takes its exclusive flock, which
// every rewrite of an existing file by this daemon holds.
int OpenLocked(const std::string& path, int flags, int* fd);

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

}  // namespace ph
