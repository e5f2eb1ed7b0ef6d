#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/options.h"
#include "bench/payload.h"

namespace ferry::bench {

/// Distribution of one latency measurement, in milliseconds. Percentiles are nearest-rank
/// over every sample, not a histogram estimate.
struct LatencySummary {
  int64_t samples = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, min_ms = 0, mean_ms = 0;
};

/// End-to-end latency at a fixed send rate: time from just before rd_kafka_produce() on the
/// sending thread to rd_kafka_consumer_poll() returning the record on the receiving thread,
/// both read from CLOCK_MONOTONIC in the same process.
struct LatencyResult {
  std::string topic;
  int64_t rate_per_s = 0;
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
  int64_t duplicates = 0;
  int64_t client_errors = 0;
  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, std::string>> producer_settings;
  std::vector<std::pair<std::string, std::string>> consumer_settings;
};

/// Sends --latency-rate records/s for --latency-seconds to the empty single-partition
/// `topic` with acks=all and linger.ms=--latency-linger-ms (default 0), while an assign()ed
/// consumer in this process, already caught up (end-of-partition seen) before the first
/// send, receives them. Each value starts with the send time (int64 ns, host order) and the
/// sequence number (uint64). Throws BenchError when a delivery fails or an acknowledged
/// record has not arrived 5 s after the last send.
LatencyResult run_latency(const Options& options, const PayloadPool& pool,
                          const std::string& topic);

/// Nearest-rank percentile (q in (0, 1]) of ascending `sorted`, which must not be empty.
int64_t nearest_rank(const std::vector<int64_t>& sorted, double q);

/// Summarizes the non-negative entries of `samples_ns` (negative = no sample).
LatencySummary summarize(const std::vector<int64_t>& samples_ns);

}  // namespace ferry::bench
