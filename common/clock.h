// Wall-clock time as Kafka carries it: milliseconds since the Unix epoch (record timestamps,
// commit timestamps, heartbeats).
#pragma once

#include <chrono>
#include <cstdint>

namespace ferry {

/// Milliseconds since 1970-01-01T00:00:00Z by the system clock (may step; use steady_clock for
/// durations).
inline int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace ferry
