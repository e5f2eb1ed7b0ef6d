// Thin POSIX wrappers for the segment files: every short read/write and EINTR is handled here,
// and every failure becomes std::system_error naming the file and the call, which the Log turns
// into errc::storage_error.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace ferry::storage::file_io {

/// open(2) with O_CLOEXEC; throws std::system_error("open <path>") on failure.
int open_or_throw(const std::filesystem::path& path, int flags, mode_t mode = 0644);

/// Reads up to n bytes at `offset`, retrying short reads; returns fewer only at end of file.
size_t pread_full(int fd, uint8_t* out, size_t n, int64_t offset, const std::filesystem::path& path);

/// Writes all n bytes at `offset`, retrying short writes.
void pwrite_full(int fd, const uint8_t* data, size_t n, int64_t offset, const std::filesystem::path& path);

void fsync_or_throw(int fd, const std::filesystem::path& path);
/// fdatasync(2): the file's data and the metadata needed to read it back (its size), not its
/// timestamps. Throws std::system_error naming `path`.
void fdatasync_or_throw(int fd, const std::filesystem::path& path);
void ftruncate_or_throw(int fd, int64_t size, const std::filesystem::path& path);
int64_t file_size(int fd, const std::filesystem::path& path);

/// Closes `fd` if it is >= 0 and sets it to -1; errors are ignored (nothing left to flush).
void close_quietly(int& fd);

}  // namespace ferry::storage::file_io
