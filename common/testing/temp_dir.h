// Test support (header-only, for tests only): a scratch directory that cleans up after itself.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

namespace ferry::testing {

/// A fresh, empty directory `/tmp/<prefix>-XXXXXX` (mkdtemp(3), so concurrent tests never share
/// one), removed with everything below it when the TempDir is destroyed. Throws std::system_error
/// when the directory cannot be made.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ferry-test") : path(make(prefix)) {}
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The directory's absolute path.
  const std::filesystem::path path;

 private:
  static std::filesystem::path make(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    return tmpl;
  }
};

}  // namespace ferry::testing
