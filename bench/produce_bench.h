#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/cpu_usage.h"

#include "bench/options.h"
#include "bench/payload.h"

namespace ferry::bench {

/// One produce-throughput case: a fresh topic, an acks setting, a partition count.
struct ProduceCase {
  /// librdkafka's acks value: "1" (leader append) or "all" (the -1 of the Produce API).
  std::string acks;
  int partitions = 1;
  std::string topic;
  /// enable.idempotence (KIP-98): the producer numbers its batches so retries cannot
  /// duplicate. Off in the broker cases; on where the case stands in for a producer that a
  /// mirror's idempotent producer is compared with.
  bool idempotent = false;
};

/// What one case achieved, counting only records whose delivery report said success.
/// Payload bytes are record values only (no keys, headers or batch framing), so MB/s is
/// comparable with the machine limit that streams the same value bytes.
struct ProduceResult {
  ProduceCase spec;
  int64_t records = 0;
  int64_t bytes = 0;
  /// From the first produce() call to the last successful delivery report.
  double seconds = 0;
  /// True when --seconds ran out before all --records were acknowledged; the rest were
  /// purged and are not counted.
  bool capped = false;
  /// Acknowledged records per partition, in partition order. Record i goes to partition
  /// i % partitions, so these are also the offsets a consumer must read up to.
  std::vector<int64_t> per_partition;
  /// Anomalies worth a human's attention that did not invalidate the numbers.
  std::vector<std::string> warnings;
  /// The exact librdkafka properties the producer ran with.
  std::vector<std::pair<std::string, std::string>> client_settings;
  /// Where the CPU went from the first produce() call to the last acknowledgement.
  PhaseCpu cpu;

  double records_per_s() const { return seconds > 0 ? records / seconds : 0; }
  /// MB = 10^6 bytes.
  double mb_per_s() const { return seconds > 0 ? bytes / seconds / 1e6 : 0; }
};

/// Produces --records records of the pool's values to `c.topic` (which must exist and be
/// empty) as fast as librdkafka's batching allows, with linger.ms=5, batch.size=1000000,
/// no compression and idempotence as `c.idempotent` says. Throws BenchError if any delivery report carries an
/// error, if the topic never gets leaders, or if nothing is acknowledged within the cap.
ProduceResult run_produce_case(const Options& options, const PayloadPool& pool,
                               const ProduceCase& c);

}  // namespace ferry::bench
