#include "bench/consume_bench.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "bench/bench_error.h"
#include "bench/kafka_client.h"

namespace ferry::bench {

ConsumeResult run_consume(const Options& options, const PayloadPool& pool,
                          const ProduceResult& source) {
  const int partitions = source.spec.partitions;
  KafkaConfig conf(options.bootstrap, options.client_properties);
  conf.set("group.id", fmt::format("ferry-bench-{}", ::getpid()))
      .set("enable.auto.commit", "false")
      .set("enable.auto.offset.store", "false")
      // End-of-partition events tell a short log (lost acknowledged data) from a slow one.
      .set("enable.partition.eof", "true")
      // librdkafka 2.0.2 defaults, pinned for the report.
      .set("fetch.max.bytes", "52428800")
      .set("max.partition.fetch.bytes", "1048576")
      .set("fetch.wait.max.ms", "500")
      .set("queued.max.messages.kbytes", "65536");

  ConsumeResult result;
  result.topic = source.spec.topic;
  result.partitions = partitions;
  result.client_settings = conf.settings();
  KafkaHandle rk = make_consumer(conf);

  const auto& expected = source.per_partition;
  // Offset the next record of each partition should carry; a partition is finished once a
  // record at or past its last acknowledged offset has been read.
  std::vector<int64_t> next(static_cast<size_t>(partitions), 0);
  std::vector<int64_t> short_eof(static_cast<size_t>(partitions), -1);
  int unfinished = 0;
  for (int p = 0; p < partitions; ++p) unfinished += expected[p] > 0 ? 1 : 0;
  int64_t offset_gaps = 0;
  std::string first_offset_gap;
  int64_t first_ns = 0;
  int64_t last_ns = 0;

  PhaseCpuMeter cpu;
  const int64_t start_ns = monotonic_ns();
  // A produce case ran up to --min-seconds plus --seconds: reading it back may take as long.
  const int64_t deadline_ns = start_ns + static_cast<int64_t>((options.min_seconds + options.seconds) * 1e9);
  assign_from_beginning(rk.get(), source.spec.topic, partitions);

  while (unfinished > 0 && monotonic_ns() < deadline_ns) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk.get(), 100);
    if (msg == nullptr) continue;
    const int32_t p = msg->partition;
    const bool ours = p >= 0 && p < partitions && next[p] < expected[p];
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (ours) short_eof[p] = msg->offset;
    } else if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (result.client_errors++ < 10) {
        std::fprintf(stderr, "ferry-bench: consumer: %s: %s\n", rd_kafka_err2name(msg->err),
                     rd_kafka_message_errstr(msg));
      }
    } else if (ours) {
      // Records past the acknowledged ones (purged at the cap) are not ours and are skipped.
      if (msg->offset != next[p] && offset_gaps++ == 0) {
        first_offset_gap = fmt::format("partition {}: expected offset {}, got {}", p, next[p],
                                       msg->offset);
      }
      // On a fresh topic record i sits at partition i % P, offset i / P.
      const uint64_t index =
          static_cast<uint64_t>(std::max<int64_t>(msg->offset, 0)) * partitions + p;
      if (msg->len != pool.record_size() ||
          std::memcmp(msg->payload, pool.record(index), msg->len) != 0) {
        ++result.value_mismatches;
      }
      ++result.records;
      result.bytes += static_cast<int64_t>(msg->len);
      last_ns = monotonic_ns();
      if (first_ns == 0) {
        first_ns = last_ns;
        cpu.start(options.broker_pid);
      }
      next[p] = std::max(next[p], msg->offset + 1);
      if (next[p] >= expected[p]) --unfinished;
    }
    rd_kafka_message_destroy(msg);
  }
  if (cpu.started()) result.cpu = cpu.finish(result.bytes);

  std::string short_partitions;
  for (int p = 0; p < partitions; ++p) {
    if (short_eof[p] >= 0 && short_eof[p] < expected[p]) {
      short_partitions += fmt::format("{}partition {} ended at offset {} with {} acknowledged",
                                      short_partitions.empty() ? "" : "; ", p, short_eof[p],
                                      expected[p]);
    }
  }
  if (offset_gaps > 0) {
    result.warnings.push_back(fmt::format("{}: {} record(s) at unexpected offsets; first: {}",
                                          result.topic, offset_gaps, first_offset_gap));
  }
  if (unfinished == 0 && result.records < source.records) {
    throw BenchError(fmt::format("{}: read {} of {} acknowledged records; the rest were absent "
                                 "from the log ({})",
                                 result.topic, result.records, source.records,
                                 offset_gaps > 0 ? first_offset_gap : "no gap seen"));
  }
  if (unfinished > 0) {
    if (!short_partitions.empty()) {
      throw BenchError(fmt::format("{}: read {} of {} acknowledged records: {}", result.topic,
                                   result.records, source.records, short_partitions));
    }
    result.capped = true;
  }
  if (result.records == 0) {
    throw BenchError(fmt::format("{}: no record read within {} s", result.topic,
                                 options.min_seconds + options.seconds));
  }
  result.seconds = seconds_between(first_ns, last_ns);
  result.startup_seconds = seconds_between(start_ns, first_ns);
  if (result.value_mismatches > 0) {
    result.warnings.push_back(fmt::format(
        "{}: {} record value(s) differ from what was produced at that offset", result.topic,
        result.value_mismatches));
  }
  return result;
}

}  // namespace ferry::bench
