// Wall-clock time as Kafka carries it: milliseconds since the Unix epoch (record timestamps,
// commit timestamps, heartbeats).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

#include <fmt/format.h>

namespace ferry {

/// Milliseconds since 1970-01-01T00:00:00Z by the system clock (may step; use steady_clock for
/// durations).
inline int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// RFC 3339 UTC with milliseconds ("2024-05-01T12:34:56.789Z") of wall-clock ms (wall_clock_ms());
/// for logs, audit entries and reports.
inline std::string rfc3339_ms(int64_t wall_ms) {
  const auto secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(wall_ms % 1000));
}

}  // namespace ferry
