#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bench/latency_bench.h"
#include "bench/machine_limit.h"
#include "bench/options.h"

namespace ferry::bench {

/// One run of back-to-back OffsetCommit requests from a group member.
struct CommitRun {
  /// Commits the broker confirmed for every partition.
  int64_t commits = 0;
  /// From the first commit call to the last confirmation.
  double seconds = 0;
  /// Per-commit time, start of rd_kafka_commit() to its return (sync run only).
  LatencySummary latency;
  /// Partitions in each commit.
  int partitions = 0;

  double commits_per_s() const { return seconds > 0 ? commits / seconds : 0; }
  double partition_offsets_per_s() const { return commits_per_s() * partitions; }
};

/// Offset-commit throughput of one consumer that owns all partitions of a topic in its
/// group, so every commit passes the coordinator's generation/member check (OffsetCommit
/// v1+ of the classic group protocol) and is stored in __consumer_offsets.
struct CommitResult {
  std::string topic;
  std::string group;
  int partitions = 0;
  /// log.flush.acks.all as the broker reported it (Ferry answers an OffsetCommit only after
  /// fsync when true); nullopt when it did not say.
  std::optional<bool> broker_flush_acks_all;
  /// rd_kafka_commit(..., async=0): one commit at a time, so the rate is 1 / round trip.
  CommitRun sync;
  /// rd_kafka_commit(..., async=1) with up to `async_window` commits outstanding, counted by
  /// offset_commit_cb completions: lets a broker that batches fsyncs show it.
  CommitRun async;
  int async_window = 0;
  /// The disk's small-append fsync rate on --data-dir, probed right before the sync run and
  /// right after the async run, so the commits are compared with the disk as it was then
  /// (a shared or throttled disk can change its fsync rate by 10x within a minute).
  FsyncRateResult fsync_before;
  FsyncRateResult fsync_after;
  /// Errors surfaced by rd_kafka_consumer_poll() while the runs were going.
  int64_t client_errors = 0;
  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, std::string>> client_settings;
};

/// Both fsync probes together: the reference a commit rate is divided by.
double fsync_per_s(const CommitResult& r);

/// Joins a fresh group `group` with one consumer subscribed to `topic` (--commit-partitions
/// partitions, existing and empty) and waits, untimed, for the assignment of every partition:
/// the broker holds a new group for its initial rebalance delay (KIP-134; assumed 3000 ms
/// when `broker_initial_delay_ms` is unknown), and the wait allows that plus 30 s. Then
/// probes the fsync rate, commits explicit, increasing offsets for all partitions for
/// --seconds synchronously and --seconds asynchronously, and probes the fsync rate again.
/// After each run the committed offsets are read back with OffsetFetch; a partition not at
/// the last committed offset is a warning, and so is an fsync rate that changed more than
/// twofold between the two probes. Throws BenchError when a commit fails or the group never
/// assigns the partitions.
CommitResult run_offset_commit(const Options& options, const std::string& topic,
                               const std::string& group,
                               std::optional<int64_t> broker_initial_delay_ms,
                               std::optional<bool> broker_flush_acks_all);

}  // namespace ferry::bench
