#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ferry::bench {

/// CLOCK_MONOTONIC in nanoseconds: the clock every duration in the report and the send time
/// embedded in latency records are read from (immune to wall-clock steps).
int64_t monotonic_ns();

/// Seconds between two monotonic_ns() readings.
inline double seconds_between(int64_t start_ns, int64_t end_ns) {
  return static_cast<double>(end_ns - start_ns) / 1e9;
}

/// Record values cut from one block of pseudo-random bytes. The block holds at least 16 MiB
/// of distinct, non-overlapping record-sized slots, so a 1 MB batch never repeats a value
/// and no codec or deduplication anywhere in the path can shrink the bytes on the wire or on
/// disk. The bytes are fixed (seeded) so two runs send identical data.
class PayloadPool {
 public:
  explicit PayloadPool(size_t record_size);

  /// Value of record `index`: record_size() bytes that stay valid and unchanged for the
  /// pool's lifetime, which lets producers hand them to librdkafka without copying.
  const char* record(uint64_t index) const {
    return bytes_.data() + (index % slots_) * record_size_;
  }
  size_t record_size() const { return record_size_; }

  /// The whole block, for senders that stream raw bytes rather than records.
  const char* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }

 private:
  size_t record_size_;
  size_t slots_;
  std::vector<char> bytes_;
};

}  // namespace ferry::bench
