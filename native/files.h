// The few file operations the flow store's threads need, with plain blocking
// system calls (a thread of their own is what they are for). Each returns 0 or
// an errno value.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ph {

using Bytes = std::vector<uint8_t>;

// mkdir -p: every missing directory of `dir` is made with `mode`.
int MakeDirectories(const std::string& dir, mode_t mode);

// `parts` in order under a temporary name beside `path` (".NAME.PID.tmp"),
// then renamed into place, so no reader ever sees half a file. A missing
// directory is made with `dirMode`. Nothing is left behind on failure.
int WriteFileAtomically(const std::string& path, const std::vector<Bytes>& parts, mode_t mode, mode_t dirMode);

// `parts` appended to `path`, which is created (and its directory) when missing.
int AppendToFile(const std::string& path, const std::vector<Bytes>& parts, mode_t mode, mode_t dirMode);

}  // namespace ph
