// Plain POSIX calls; see files.h.
#include "files.h"

#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "bytes.h"
#include "deflate.h"

namespace ph {
namespace {

// Opens `path` with `flags`, making its directory when it is missing.
int OpenMakingDirectory(const std::string& path, int flags, mode_t mode, mode_t dirMode, int* fd) {
  *fd = open(path.c_str(), flags | O_CLOEXEC, mode);
  if (*fd < 0 && errno == ENOENT) {
    const int error = MakeDirectories(DirectoryOf(path), dirMode);
    if (error != 0) return error;
    *fd = open(path.c_str(), flags | O_CLOEXEC, mode);
  }
  return *fd < 0 ? errno : 0;
}

int ReadAll(int fd, Bytes* out, off_t size) {
  out->resize(static_cast<size_t>(size));
  size_t at = 0;
  while (at < out->size()) {
    const ssize_t n = pread(fd, out->data() + at, out->size() - at, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;  // shrank while read: what is there is what counts
    at += static_cast<size_t>(n);
  }
  out->resize(at);
  return 0;
}

// A member whose output would exceed this is not one of ours (at most 16 MiB
// of records each); such a file is treated as unusable rather than inflated.
constexpr size_t kMaxMemberOutput = 64u << 20;

enum class Member { Whole, Bad, TooLarge };

// One gzip member at `in`: its compressed and decompressed sizes.
Member InflateMember(libdeflate_decompressor* d, const uint8_t* in, size_t inSize, Bytes* scratch, size_t* used,
                     size_t* produced) {
  if (scratch->size() < 256 * 1024) scratch->resize(256 * 1024);
  for (;;) {
    const libdeflate_result r =
        libdeflate_gzip_decompress_ex(d, in, inSize, scratch->data(), scratch->size(), used, produced);
    if (r == LIBDEFLATE_SUCCESS) return Member::Whole;
    if (r != LIBDEFLATE_INSUFFICIENT_SPACE) return Member::Bad;
    if (scratch->size() >= kMaxMemberOutput) return Member::TooLarge;
    scratch->resize(scratch->size() * 2);
  }
}

}  // namespace

int WritePieces(int fd, const Pieces& pieces) {
  // In windows of at most kWindow pieces (IOV_MAX is 1024), from the stack.
  constexpr size_t kWindow = 64;
  static_assert(kWindow <= IOV_MAX, "a window is one writev");
  iovec iov[kWindow];
  size_t next = 0;  // first piece not yet in a window
  while (next < pieces.size()) {
    size_t count = 0;
    for (; next < pieces.size() && count < kWindow; next++) {
      if (pieces[next].second == 0) continue;
      iov[count].iov_base = const_cast<uint8_t*>(pieces[next].first);
      iov[count].iov_len = pieces[next].second;
      count++;
    }
    size_t at = 0;
    while (at < count) {
      const ssize_t n = writev(fd, iov + at, static_cast<int>(count - at));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) return ENOSPC;  // no progress on a regular file: the disk is full
      size_t left = static_cast<size_t>(n);
      while (at < count && left >= iov[at].iov_len) left -= iov[at++].iov_len;
      if (left > 0) {
        iov[at].iov_base = static_cast<uint8_t*>(iov[at].iov_base) + left;
        iov[at].iov_len -= left;
      }
    }
  }
  return 0;
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string TemporaryPathFor(const std::string& path, const std::string& dir) {
  const size_t slash = path.find_last_of('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return (dir.empty() ? DirectoryOf(path) : dir) + "/." + base + "." + std::to_string(getpid()) + ".tmp";
}

std::string NumberedPath(const std::string& path, int n) {
  static const std::string kSuffix = ".pcap.gz";
  const std::string number = "." + std::to_string(n);
  if (path.size() > kSuffix.size() && path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
    return path.substr(0, path.size() - kSuffix.size()) + number + kSuffix;
  }
  return path + number;
}

// Recursive: the common case (the day's directory exists) costs one mkdir.
int MakeDirectories(const std::string& dir, mode_t mode) {
  if (dir.empty()) return 0;
  if (mkdir(dir.c_str(), mode) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return errno;
  const size_t slash = dir.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return ENOENT;
  const int parent = MakeDirectories(dir.substr(0, slash), mode);
  if (parent != 0) return parent;
  if (mkdir(dir.c_str(), mode) == 0 || errno == EEXIST) return 0;
  return errno;
}

int WriteTemporary(const std::string& temporary, const Pieces& pieces, mode_t mode, mode_t dirMode, bool sync) {
  int fd = -1;
  int error = OpenMakingDirectory(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode, dirMode, &fd);
  if (error != 0) return error;
  error = WritePieces(fd, pieces);
  if (error == 0 && sync && fdatasync(fd) != 0) error = errno;
  if (close(fd) != 0 && error == 0) error = errno;
  if (error != 0) unlink(temporary.c_str());
  return error;
}

int OpenUnnamedAt(int dirfd, const char* dir, mode_t mode, int* fd) {
  *fd = openat(dirfd, dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
  if (*fd >= 0) return 0;
  // EISDIR or EINVAL: O_TMPFILE unknown to the kernel or the filesystem.
  return errno == EISDIR || errno == EINVAL || errno == EOPNOTSUPP ? EOPNOTSUPP : errno;
}

int LinkUnnamedAt(int fd, int dirfd, const char* name, bool* emptyPath) {
  if (*emptyPath) {
    if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0) return 0;
    if (errno != ENOENT) return errno;
  }
  // Refused (or the directory is gone): through /proc, which needs no privilege.
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
  if (linkat(AT_FDCWD, self, dirfd, name, AT_SYMLINK_FOLLOW) != 0) return errno;
  *emptyPath = false;  // only a refusal makes /proc work where AT_EMPTY_PATH did not
  return 0;
}

void AnnounceWrittenAt(int dirfd, const char* name) {
  const int fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) close(fd);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

namespace {

// O_RDONLY where allowed; else O_PATH, which needs no permission on the
// directory itself and serves every *at call made relative to it.
int OpenDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 || errno != EACCES) return fd;
  return open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
}

}  // namespace

int DirectoryHandles::Get(const std::string& dir, bool make, mode_t dirMode, int* fd, bool* opened) {
  if (opened != nullptr) *opened = false;
  Entry* entry = nullptr;
  for (Entry& e : entries_) {
    if (e.dir == dir) entry = &e;
  }
  if (entry == nullptr) {
    // First use: by path.
    if (entries_.size() >= kMaxEntries) {
      if (entries_.front().fd >= 0) close(entries_.front().fd);  // the oldest
      entries_.erase(entries_.begin());
    }
    entries_.push_back(Entry{dir, -1});
    *fd = AT_FDCWD;
    return 0;
  }
  if (entry->fd < 0) {
    int handle = OpenDirectory(dir);
    if (handle < 0 && errno == ENOENT && make) {
      const int error = MakeDirectories(dir, dirMode);
      if (error != 0) return error;
      handle = OpenDirectory(dir);
    }
    if (handle < 0) return errno;
    entry->fd = handle;
    if (opened != nullptr) *opened = true;
  }
  *fd = entry->fd;
  return 0;
}

int DirectoryHandles::Device(const std::string& dir, dev_t* dev) {
  Entry* entry = nullptr;
  for (Entry& e : entries_) {
    if (e.dir == dir) entry = &e;
  }
  if (entry != nullptr && entry->devKnown) {
    *dev = entry->dev;
    return 0;
  }
  struct stat st;
  if ((entry != nullptr && entry->fd >= 0 ? fstat(entry->fd, &st) : stat(dir.c_str(), &st)) != 0) return errno;
  *dev = st.st_dev;
  if (entry != nullptr) {
    entry->dev = st.st_dev;
    entry->devKnown = true;
  }
  return 0;
}

void DirectoryHandles::Drop(const std::string& dir) {
  for (Entry& e : entries_) {
    if (e.dir != dir || e.fd < 0) continue;
    close(e.fd);
    e.fd = -1;
    e.devKnown = false;
  }
}

void DirectoryHandles::Clear() {
  for (const Entry& e : entries_) {
    if (e.fd >= 0) close(e.fd);
  }
  entries_.clear();
}

namespace {

int RenameNoReplace(const std::string& from, const std::string& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // A filesystem without RENAME_NOREPLACE: link(2) fails on an existing name too.
  if (link(from.c_str(), to.c_str()) == 0) {
    unlink(from.c_str());
    return 0;
  }
  if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS) return errno;
  // Nor hard links (vfat and the like): check, then rename, which leaves a
  // moment in which another writer could take the name.
  struct stat st;
  if (lstat(to.c_str(), &st) == 0) return EEXIST;
  if (errno != ENOENT) return errno;
  return rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

}  // namespace

int MoveNoReplace(const std::string& from, const std::string& to, mode_t dirMode) {
  int error = RenameNoReplace(from, to);
  if (error == ENOENT && access(from.c_str(), F_OK) == 0) {
    error = MakeDirectories(DirectoryOf(to), dirMode);
    if (error == 0) error = RenameNoReplace(from, to);
  }
  return error;
}

int SyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int error = fsync(fd) == 0 ? 0 : errno;
  close(fd);
  return error;
}

int CreateExclusive(const std::string& path, mode_t mode, mode_t dirMode, int* fd) {
  return OpenMakingDirectory(path, O_WRONLY | O_CREAT | O_EXCL, mode, dirMode, fd);
}

int PublishStaged(const std::string& from, const std::string& to, mode_t dirMode, StagedResult* out) {
  const int fd = open(from.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  ExistingFile file;
  int error = InspectExisting(fd, false, &file);
  if (error == 0 && !file.usable) {
    close(fd);
    out->numbered = -1;
    return unlink(from.c_str()) == 0 ? 0 : errno;
  }
  if (error == 0 && file.validEnd < file.size && ftruncate(fd, file.validEnd) != 0) error = errno;
  if (error == 0 && fdatasync(fd) != 0) error = errno;
  if (close(fd) != 0 && error == 0) error = errno;
  if (error != 0) return error;
  out->cutBytes = file.size - file.validEnd;
  error = MoveNoReplace(from, to, dirMode);
  for (int n = 1; error == EEXIST && n <= kMaxNumberedNames; n++) {
    error = MoveNoReplace(from, NumberedPath(to, n), dirMode);
    if (error == 0) out->numbered = n;
  }
  if (error == 0) SyncDirectory(DirectoryOf(to));
  return error;
}

int InspectExisting(int fd, bool keep, ExistingFile* out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  Bytes content;
  int error = ReadAll(fd, &content, st.st_size);
  if (error != 0) return error;
  out->size = static_cast<off_t>(content.size());
  Inflater d(libdeflate_alloc_decompressor());
  if (!d) return ENOMEM;
  Bytes scratch;
  size_t at = 0;
  bool first = true;
  while (at < content.size()) {
    size_t used = 0;
    size_t produced = 0;
    const Member m = InflateMember(d.get(), content.data() + at, content.size() - at, &scratch, &used, &produced);
    if (m == Member::TooLarge) return 0;
    if (m == Member::Bad) break;
    // Whole records in each member, the first one led by the file header.
    size_t r = 0;
    if (first) {
      if (produced < kPcapHeaderBytes) return 0;
      std::copy(scratch.begin(), scratch.begin() + kPcapHeaderBytes, out->header);
      r = kPcapHeaderBytes;
      first = false;
    }
    while (r + 16 <= produced) {
      r += 16 + static_cast<size_t>(GetU32LE(scratch.data() + r + 8));  // + caplen
    }
    if (r != produced) return 0;
    at += used;
  }
  if (first) return 0;  // empty, or not gzip from its first byte
  // A tail that holds the start of a whole member is damage in the middle of
  // the file, not a member cut short by a crash: such a file is left alone.
  for (size_t t = at + 1; t + 18 <= content.size(); t++) {
    if (content[t] != 0x1f || content[t + 1] != 0x8b || content[t + 2] != 8) continue;
    size_t used = 0;
    size_t produced = 0;
    if (InflateMember(d.get(), content.data() + t, content.size() - t, &scratch, &used, &produced) != Member::Bad) {
      return 0;
    }
  }
  out->usable = true;
  out->validEnd = static_cast<off_t>(at);
  if (keep) {
    content.resize(at);
    out->content = std::move(content);
  }
  return 0;
}

}  // namespace ph
