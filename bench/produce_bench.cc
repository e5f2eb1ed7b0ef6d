#include "bench/produce_bench.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>

#include "bench/bench_error.h"
#include "bench/kafka_client.h"

namespace ferry::bench {
namespace {

// Fed by delivery reports, which librdkafka runs inside rd_kafka_poll()/rd_kafka_flush() on
// the producing thread, so no synchronization is needed.
struct DeliveryState {
  int64_t acked = 0;
  int64_t acked_bytes = 0;
  int64_t last_ack_ns = 0;
  int64_t purged = 0;
  int64_t failed = 0;
  std::string first_failure;
  std::vector<int64_t> acked_per_partition;
  int64_t offset_gaps = 0;
  std::string first_offset_gap;
};

void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto& state = *static_cast<DeliveryState*>(opaque);
  if (msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || msg->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
    ++state.purged;
    return;
  }
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (state.failed++ == 0) {
      state.first_failure = fmt::format("partition {}: {} ({})", msg->partition,
                                        rd_kafka_err2name(msg->err), rd_kafka_err2str(msg->err));
    }
    return;
  }
  state.last_ack_ns = monotonic_ns();
  ++state.acked;
  state.acked_bytes += static_cast<int64_t>(msg->len);
  // Each topic starts empty and every partition's records are acknowledged in send order,
  // so the broker must hand out offsets 0, 1, 2, ... per partition. Anything else means
  // lost, duplicated or misnumbered records.
  int64_t& count = state.acked_per_partition.at(static_cast<size_t>(msg->partition));
  if (msg->offset != count && state.offset_gaps++ == 0) {
    state.first_offset_gap = fmt::format("partition {}: record #{} acknowledged at offset {}",
                                         msg->partition, count, msg->offset);
  }
  ++count;
}

}  // namespace

ProduceResult run_produce_case(const Options& options, const PayloadPool& pool,
                               const ProduceCase& c) {
  DeliveryState state;
  state.acked_per_partition.assign(static_cast<size_t>(c.partitions), 0);

  KafkaConfig conf(options.bootstrap, options.client_properties);
  conf.set("acks", c.acks)
      // librdkafka's own defaults for linger and batch size, pinned so the report states
      // them and a library upgrade cannot silently change what is measured.
      .set("linger.ms", "5")
      .set("batch.size", "1000000")
      .set("batch.num.messages", "10000")
      .set("compression.type", "none")
      .set("enable.idempotence", c.idempotent ? "true" : "false")
      // Bounds what is still queued when --seconds runs out; 64 MiB keeps several full
      // batches per partition in flight, which is all batching needs.
      .set("queue.buffering.max.kbytes", "65536")
      .set("queue.buffering.max.messages", "1000000")
      .set("message.timeout.ms", "30000");
  rd_kafka_conf_set_dr_msg_cb(conf.raw(), on_delivery);
  rd_kafka_conf_set_opaque(conf.raw(), &state);

  ProduceResult result;
  result.spec = c;
  result.client_settings = conf.settings();
  KafkaHandle rk = make_producer(conf);
  TopicHandle rkt = open_topic(rk.get(), c.topic);
  wait_for_leaders(rk.get(), rkt.get(), c.partitions, std::chrono::seconds(10));

  const auto size = static_cast<size_t>(options.record_size);
  PhaseCpuMeter cpu;
  cpu.start(options.broker_pid);
  const int64_t start_ns = monotonic_ns();
  // --min-seconds: past --records, keep producing until the case has run that long.
  const int64_t min_end_ns = start_ns + static_cast<int64_t>(options.min_seconds * 1e9);
  const int64_t deadline_ns = min_end_ns + static_cast<int64_t>(options.seconds * 1e9);
  bool capped = false;
  bool min_reached = options.min_seconds <= 0;

  for (int64_t i = 0; (i < options.records || !min_reached) && !capped && state.failed == 0; ++i) {
    if (i % 256 == 0) {
      rd_kafka_poll(rk.get(), 0);
      const int64_t now = monotonic_ns();
      min_reached = min_reached || now >= min_end_ns;
      if (now >= deadline_ns) {
        capped = true;
        break;
      }
    }
    const auto partition = static_cast<int32_t>(i % c.partitions);
    // Flags 0: librdkafka references the pool bytes instead of copying them, which keeps
    // the client's CPU out of the way of the broker it is measuring.
    while (rd_kafka_produce(rkt.get(), partition, 0, const_cast<char*>(pool.record(i)), size,
                            nullptr, 0, nullptr) == -1) {
      rd_kafka_resp_err_t err = rd_kafka_last_error();
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        throw BenchError(fmt::format("produce to {} [{}] refused: {}", c.topic, partition,
                                     rd_kafka_err2str(err)));
      }
      rd_kafka_poll(rk.get(), 1);
      if (monotonic_ns() >= deadline_ns) {
        capped = true;
        break;
      }
    }
  }

  // Wait for outstanding acknowledgements, but not past the cap.
  while (!capped && state.failed == 0 && rd_kafka_outq_len(rk.get()) > 0) {
    const int64_t left_ms = (deadline_ns - monotonic_ns()) / 1'000'000;
    if (left_ms <= 0) {
      capped = true;
      break;
    }
    rd_kafka_flush(rk.get(), static_cast<int>(std::min<int64_t>(left_ms, 100)));
  }
  if (capped || state.failed > 0) {
    rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }
  result.cpu = cpu.finish(state.acked_bytes);
  if (rd_kafka_flush(rk.get(), 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw BenchError(fmt::format("{}: {} messages/requests still outstanding after purge",
                                 c.topic, rd_kafka_outq_len(rk.get())));
  }
  if (state.failed > 0) {
    throw BenchError(fmt::format("{}: {} record(s) failed delivery (acks={}); first: {}", c.topic,
                                 state.failed, c.acks, state.first_failure));
  }
  if (state.acked == 0) {
    throw BenchError(fmt::format("{}: no record acknowledged within {} s", c.topic,
                                 options.min_seconds + options.seconds));
  }

  result.records = state.acked;
  result.bytes = state.acked_bytes;
  result.seconds = seconds_between(start_ns, state.last_ack_ns);
  result.capped = capped;
  result.per_partition = state.acked_per_partition;
  if (state.offset_gaps > 0) {
    result.warnings.push_back(fmt::format(
        "{}: {} acknowledgement(s) at unexpected offsets; first: {}", c.topic, state.offset_gaps,
        state.first_offset_gap));
  }
  return result;
}

}  // namespace ferry::bench
