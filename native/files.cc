// Plain POSIX calls; see files.h.
#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace ph {
namespace {

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// write(2) until done; a write that makes no progress on a regular file means the disk is full.
int WriteAll(int fd, const uint8_t* data, size_t length) {
  while (length > 0) {
    const ssize_t n = write(fd, data, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ENOSPC;
    data += n;
    length -= static_cast<size_t>(n);
  }
  return 0;
}

int WriteParts(int fd, const std::vector<Bytes>& parts) {
  for (const Bytes& m : parts) {
    const int error = WriteAll(fd, m.data(), m.size());
    if (error != 0) return error;
  }
  return 0;
}

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

}  // namespace

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

int WriteFileAtomically(const std::string& path, const std::vector<Bytes>& parts, mode_t mode, mode_t dirMode) {
  const size_t slash = path.find_last_of('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string temporary = DirectoryOf(path) + "/." + base + "." + std::to_string(getpid()) + ".tmp";
  int fd = -1;
  int error = OpenMakingDirectory(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode, dirMode, &fd);
  if (error != 0) return error;
  error = WriteParts(fd, parts);
  if (close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && rename(temporary.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) unlink(temporary.c_str());
  return error;
}

int AppendToFile(const std::string& path, const std::vector<Bytes>& parts, mode_t mode, mode_t dirMode) {
  int fd = -1;
  int error = OpenMakingDirectory(path, O_WRONLY | O_APPEND | O_CREAT, mode, dirMode, &fd);
  if (error != 0) return error;
  error = WriteParts(fd, parts);
  if (close(fd) != 0 && error == 0) error = errno;
  return error;
}

}  // namespace ph
