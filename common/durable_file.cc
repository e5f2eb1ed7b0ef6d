#include "common/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace ferry {

namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& p, int err) {
  throw std::system_error(err, std::generic_category(), what + " " + p.string());
}

}  // namespace

void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail("fsync directory", dir, err);
}

void atomic_write_file(const std::filesystem::path& file, std::string_view content, unsigned mode) {
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  ::unlink(tmp.c_str());  // a leftover temp file would keep its old permission bits
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) fail("create", tmp, errno);
  auto abandon = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(what, tmp, err);
  };
  for (size_t done = 0; done < content.size();) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abandon("write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) abandon("fsync");
  ::close(fd);
  if (::rename(tmp.c_str(), file.c_str()) != 0) fail("rename " + tmp.string() + " over", file, errno);
  const auto dir = file.parent_path();
  fsync_dir(dir.empty() ? std::filesystem::path(".") : dir);
}

}  // namespace ferry
