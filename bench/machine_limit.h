#pragma once

#include <cstdint>
#include <string>

#include "bench/payload.h"

namespace ferry::bench {

/// The ceiling a broker on this machine could reach: bytes pushed through a loopback TCP
/// socket by one thread and appended to a file by another, made durable by one fdatasync at
/// the end. It shares the broker's two costs that do not depend on the broker (kernel
/// socket copy, filesystem write) and none of its protocol work.
struct MachineLimitResult {
  int64_t bytes = 0;
  /// From connect() to the return of fdatasync().
  double seconds = 0;
  /// Portion of `seconds` spent in the final fdatasync().
  double fdatasync_seconds = 0;
  std::string directory;

  /// MB = 10^6 bytes.
  double mb_per_s() const { return seconds > 0 ? bytes / seconds / 1e6 : 0; }
};

/// Streams `bytes` bytes of `pool` (cycled) from a client thread to a server thread over
/// 127.0.0.1 and writes them to a temporary file in `directory`, removed afterwards. Calls
/// sync() first, untimed, so dirty pages the broker left behind are not flushed on this
/// measurement's clock. Throws BenchError on any socket or file error.
MachineLimitResult measure_machine_limit(const std::string& directory, int64_t bytes,
                                         const PayloadPool& pool);

}  // namespace ferry::bench
