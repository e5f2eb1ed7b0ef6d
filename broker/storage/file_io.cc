#include "broker/storage/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace ferry::storage::file_io {
namespace {

[[noreturn]] void fail(const char* call, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), std::string(call) + " " + path.string());
}

}  // namespace

int open_or_throw(const std::filesystem::path& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail("open", path);
  return fd;
}

size_t pread_full(int fd, uint8_t* out, size_t n, int64_t offset, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("pread", path);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

void pwrite_full(int fd, const uint8_t* data, size_t n, int64_t offset, const std::filesystem::path& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::pwrite(fd, data + done, n - done, static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("pwrite", path);
    }
    done += static_cast<size_t>(w);
  }
}

void fsync_or_throw(int fd, const std::filesystem::path& path) {
  if (::fsync(fd) != 0) fail("fsync", path);
}

void fdatasync_or_throw(int fd, const std::filesystem::path& path) {
  if (::fdatasync(fd) != 0) fail("fdatasync", path);
}

void ftruncate_or_throw(int fd, int64_t size, const std::filesystem::path& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fail("ftruncate", path);
}

int64_t file_size(int fd, const std::filesystem::path& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) fail("fstat", path);
  return static_cast<int64_t>(st.st_size);
}

void close_quietly(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace ferry::storage::file_io
