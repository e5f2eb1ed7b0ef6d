#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/ack_timing.h"
#include "bench/machine_limit.h"
#include "bench/options.h"
#include "bench/payload.h"

namespace ferry::bench {

/// Distribution of one latency measurement, in milliseconds. Percentiles are nearest-rank
/// over every sample, not a histogram estimate.
/// The side probe of the disk during the latency phase (LatencyResult::disk_fsync): one
/// append of this many bytes plus fdatasync() every this many ms.
inline constexpr int64_t kDiskProbeBytes = 1024;
inline constexpr int64_t kDiskProbeIntervalMs = 20;

struct LatencySummary {
  int64_t samples = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, min_ms = 0, mean_ms = 0;
};

/// End-to-end latency at a fixed send rate: time from just before rd_kafka_produce() on the
/// sending thread to rd_kafka_consumer_poll() returning the record on the receiving thread,
/// both read from CLOCK_MONOTONIC in the same process.
/// Length of one librdkafka statistics window of the latency producer (statistics.interval.ms).
constexpr int kAckStatsWindowMs = 1000;

struct LatencyResult {
  /// The topic records are produced to.
  std::string topic;
  /// The topic they are received from: `topic` itself, or its mirror's remote copy.
  std::string consume_topic;
  int64_t rate_per_s = 0;
  /// Where rate_per_s came from (broker mode: "--latency-rate" or half the run's peak).
  std::string rate_rule;
  double seconds = 0;
  int64_t sent = 0;
  /// Send to receipt by the consumer: what an application sees.
  LatencySummary end_to_end;
  /// Send to the producer's delivery report (acks=all). When end-to-end is much worse than
  /// this, the delay is on the Fetch side of the broker; when both are bad, on Produce.
  LatencySummary produce_ack;
  /// How far the sender fell behind its schedule at worst. A large value means the rate
  /// was not actually held and the percentiles understate queueing (coordinated omission).
  double max_behind_schedule_ms = 0;
  /// Send-to-receipt time of the warm-up record (LatencyRoute::warm_up), ms; -1 without one.
  double warm_up_ms = -1;
  /// How long the sync(2) before the phase took, ms: the earlier phases' data still waiting for
  /// writeback, which this phase's fsyncs would otherwise queue behind.
  double settle_sync_ms = 0;
  /// The disk's own append + fdatasync() latency, probed every kDiskProbeIntervalMs in
  /// Options::data_dir while the phase ran (nullopt when the probe could not run): the floor
  /// under an acks=all latency of the same moment.
  std::optional<FsyncRateResult> disk_fsync;
  /// librdkafka's own timing of the latency producer's requests while the phase ran, one entry
  /// per statistics window (kAckStatsWindowMs; see AckTimingWindow). Splits produce_ack into the
  /// client's queues and the round trip: an rtt far below produce_ack puts the time in the
  /// client, not in the broker.
  std::vector<AckTimingWindow> ack_timing;
  /// The worst end-to-end latency of the records sent in each second of the phase (index =
  /// whole seconds since the first send), in ms; -1 for a second with no sample. Tells one
  /// stall from latency spread over the whole run.
  std::vector<double> max_by_send_second_ms;
  int64_t duplicates = 0;
  int64_t client_errors = 0;
  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, std::string>> producer_settings;
  std::vector<std::pair<std::string, std::string>> consumer_settings;
};

/// Where latency records go in and where they come out. Both topics have one partition and
/// are empty before the phase.
struct LatencyRoute {
  std::string produce_bootstrap;
  std::string produce_topic;
  /// Another cluster (a mirror's target) or the same one.
  std::string consume_bootstrap;
  std::string consume_topic;
  /// Send one untimed record through the route and wait for it before the timed records,
  /// so one-time costs on the way (a mirror's first look-up of a topic it never wrote to)
  /// are reported apart (LatencyResult::warm_up_ms) instead of as the first second's tail.
  bool warm_up = false;
};

/// Sends --latency-rate records/s for --latency-seconds to the empty single-partition
/// `route.produce_topic` with acks=all and linger.ms=--latency-linger-ms (default 0), while
/// an assign()ed consumer in this process on `route.consume_topic`, already caught up
/// (end-of-partition seen) before the first send, receives them. Each value starts with the
/// send time (int64 ns, host order) and the sequence number (uint64); the consumer matches
/// records by that sequence number, so anything that copies values unchanged (a mirror) may
/// sit between the two topics. Throws BenchError when a delivery fails or an acknowledged
/// record has not arrived 5 s after the last send.
LatencyResult run_latency(const Options& options, const PayloadPool& pool,
                          const LatencyRoute& route);

/// The broker benchmark's case: produce to and consume from `topic` on --bootstrap.
LatencyResult run_latency(const Options& options, const PayloadPool& pool,
                          const std::string& topic);

/// Nearest-rank percentile (q in (0, 1]) of ascending `sorted`, which must not be empty.
int64_t nearest_rank(const std::vector<int64_t>& sorted, double q);

/// Summarizes the non-negative entries of `samples_ns` (negative = no sample).
LatencySummary summarize(const std::vector<int64_t>& samples_ns);

/// One progress line on the disk probe of `l` (LatencyResult::disk_fsync), or "" without one.
std::string disk_probe_line(const LatencyResult& l);

}  // namespace ferry::bench
