// A temporary file holding given bytes, open read-only, for tests of FileSlice users (records_test,
// broker/tests/frame_writer_test). Removed, and its descriptor closed, with the object.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "broker/protocol/wire.h"

namespace ferry::protocol::testing {

struct TempFile {
  std::filesystem::path path;
  std::shared_ptr<int> fd;
  Bytes content;

  explicit TempFile(Bytes bytes) : content(std::move(bytes)) {
    static std::atomic<int> next{0};
    path = std::filesystem::temp_directory_path() /
           ("ferry-slice-" + std::to_string(::getpid()) + "-" + std::to_string(next++));
    int w = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    EXPECT_GE(w, 0);
    EXPECT_EQ(::write(w, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(w);
    fd = std::shared_ptr<int>(new int(::open(path.c_str(), O_RDONLY)), [](int* p) {
      ::close(*p);
      delete p;
    });
  }
  ~TempFile() { std::filesystem::remove(path); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  /// `length` bytes at `offset`, as a slice holding the descriptor open.
  FileSlice slice(int64_t offset, int64_t length) const { return FileSlice{fd, *fd, offset, length}; }
};

}  // namespace ferry::protocol::testing
