#pragma once

#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

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

/// How many small durable appends this disk takes per second: the cost floor of anything the
/// broker answers only after fsync, such as an OffsetCommit with log.flush.acks.all (one
/// fdatasync per commit unless the broker batches several commits into one).
struct FsyncRateResult {
  /// Bytes appended before each fdatasync().
  int64_t write_bytes = 0;
  /// Append + fdatasync() rounds completed.
  int64_t count = 0;
  /// From the first write() to the return of the last fdatasync().
  double seconds = 0;
  /// Duration of each write() + fdatasync() round, in nanoseconds.
  std::vector<int64_t> round_ns;
  std::string directory;

  double per_s() const { return seconds > 0 ? count / seconds : 0; }
};

/// Appends `write_bytes` bytes and calls fdatasync() on a temporary file in `directory`
/// (removed afterwards), `max_count` times or until `max_seconds` have passed, whichever comes
/// first. Each append grows the file, so every fdatasync() also persists the new size, as a
/// log append does. Calls sync() first, untimed: on a disk still writing back earlier
/// phases' data an fdatasync() costs many times more. Throws BenchError on any file error.
FsyncRateResult measure_fsync_rate(const std::string& directory, int64_t write_bytes,
                                   int64_t max_count, double max_seconds);

/// The disk's fsync latency while something else loads it: one append of `write_bytes` plus
/// fdatasync() every `interval_ms` on a temporary file in `directory` (removed at once) until
/// `stop` is requested; no sync() first. It shows how long any fsync waits at that moment, so an
/// acks=all latency can be set against the disk's own in the same run. Throws BenchError on
/// any file error.
FsyncRateResult probe_fsync_latency(const std::string& directory, int64_t write_bytes,
                                    int64_t interval_ms, std::stop_token stop);

}  // namespace ferry::bench
