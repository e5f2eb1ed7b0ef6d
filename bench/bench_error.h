#pragma once

#include <stdexcept>
#include <string>

namespace ferry::bench {

/// A failure that ends the run with exit status 1: the broker refused or lost data, a
/// client handle could not be created, or the local disk/socket measurement failed.
/// Thrown rather than returned because every phase aborts the whole run on it, so
/// unwinding to main() is exactly the desired control flow.
class BenchError : public std::runtime_error {
 public:
  explicit BenchError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ferry::bench
