#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/cpu_usage.h"

#include "bench/options.h"
#include "bench/payload.h"
#include "bench/produce_bench.h"

namespace ferry::bench {

/// Consume throughput over records a produce case left behind.
struct ConsumeResult {
  std::string topic;
  int partitions = 0;
  int64_t records = 0;
  /// Record value bytes, as for produce.
  int64_t bytes = 0;
  /// From the arrival of the first record to the arrival of the last expected one.
  double seconds = 0;
  /// From assign() to the first record: offset lookup plus first Fetch, and librdkafka
  /// 2.0.2's own ~0.5 s delay before its first ListOffsets. Kept out of `seconds` because
  /// it is a fixed cost that would make the rate depend on --records.
  double startup_seconds = 0;
  /// True when --seconds ran out before every acknowledged record was read.
  bool capped = false;
  /// Records whose value differs from the one produced at that position.
  int64_t value_mismatches = 0;
  /// Errors other than end-of-partition surfaced by rd_kafka_consumer_poll().
  int64_t client_errors = 0;
  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, std::string>> client_settings;
  /// Where the CPU went from the first record to the last (the span `seconds` measures).
  PhaseCpu cpu;

  double records_per_s() const { return seconds > 0 ? records / seconds : 0; }
  /// MB = 10^6 bytes.
  double mb_per_s() const { return seconds > 0 ? bytes / seconds / 1e6 : 0; }
};

/// Reads back exactly the records `source` got acknowledged, from offset 0 of every partition,
/// with an assign()ed consumer (librdkafka requires a group.id for assign(); the group is
/// never joined and nothing is committed). Each value is compared with what was produced.
/// Throws BenchError when acknowledged data is missing: a partition's log ends
/// (end-of-partition) below its acknowledged offsets, or the last acknowledged offset was
/// read but offsets before it never arrived (e.g. a log start offset above 0).
ConsumeResult run_consume(const Options& options, const PayloadPool& pool,
                          const ProduceResult& source);

}  // namespace ferry::bench
