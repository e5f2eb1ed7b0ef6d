#include "bench/latency_bench.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <thread>

#include "bench/bench_error.h"
#include "bench/kafka_client.h"

namespace ferry::bench {
namespace {

constexpr size_t kHeaderBytes = 2 * sizeof(int64_t);
constexpr int64_t kDrainNs = 5'000'000'000;
// Sequence number of the untimed warm-up record (LatencyRoute::warm_up); never a timed one.
constexpr uint64_t kWarmUpSeq = UINT64_MAX;
constexpr int64_t kWarmUpTimeoutNs = 15'000'000'000;

// Written by the sending thread (delivery reports run inside its rd_kafka_poll()), read by
// the receiving thread to stop early on failure.
struct SendState {
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> max_behind_ns{0};
  std::atomic<int64_t> done_ns{0};
  std::string error;  // published by done_ns (release/acquire)
  // Send-to-acknowledgement time per sequence number, -1 until acknowledged. Only the
  // sending thread writes it; the receiving thread reads it after joining.
  std::vector<int64_t> ack_ns;
  // Windows of librdkafka's statistics from the first send on; written by whichever thread polls
  // the producer (the sender, once the phase runs), read after joining it.
  std::vector<AckTimingWindow> timing;
};

// librdkafka's statistics callback (statistics.interval.ms): keeps each window of the producer's
// request timings from the first send on. Returns 0: the JSON stays librdkafka's to free.
int on_stats(rd_kafka_t* /*rk*/, char* json, size_t len, void* opaque) {
  auto& state = *static_cast<SendState*>(opaque);
  if (state.sent.load(std::memory_order_relaxed) == 0) return 0;  // before the phase
  if (auto window = parse_ack_timing(std::string_view(json, len))) state.timing.push_back(*window);
  return 0;
}

void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto& state = *static_cast<SendState*>(opaque);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const int64_t now = monotonic_ns();
    int64_t sent_ns = 0;
    uint64_t seq = 0;
    if (msg->len >= kHeaderBytes) {
      std::memcpy(&sent_ns, msg->payload, sizeof sent_ns);
      std::memcpy(&seq, static_cast<const char*>(msg->payload) + sizeof sent_ns, sizeof seq);
    }
    if (seq == kWarmUpSeq) return;  // untimed, and not one the consumer must account for
    state.acked.fetch_add(1, std::memory_order_relaxed);
    if (seq < state.ack_ns.size()) state.ack_ns[seq] = now - sent_ns;
  } else if (state.failed.fetch_add(1, std::memory_order_relaxed) == 0) {
    state.error = fmt::format("latency record failed delivery: {}", rd_kafka_err2str(msg->err));
  }
}

void sleep_until_ns(int64_t target_ns) {
  timespec ts{};
  ts.tv_sec = target_ns / 1'000'000'000;
  ts.tv_nsec = target_ns % 1'000'000'000;
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void send_paced(std::stop_token stop, rd_kafka_t* rk, rd_kafka_topic_t* rkt, const Options& options,
                const PayloadPool& pool, int64_t count, SendState& state) {
  std::vector<char> value(pool.record(0), pool.record(0) + pool.record_size());
  const int64_t t0 = monotonic_ns();
  const double interval_ns = 1e9 / static_cast<double>(options.latency_rate);
  for (int64_t i = 0; i < count && !stop.stop_requested(); ++i) {
    if (state.failed.load(std::memory_order_relaxed) > 0) break;
    const int64_t target = t0 + static_cast<int64_t>(std::llround(i * interval_ns));
    sleep_until_ns(target);
    const int64_t now = monotonic_ns();
    if (now - target > state.max_behind_ns.load(std::memory_order_relaxed)) {
      state.max_behind_ns.store(now - target, std::memory_order_relaxed);
    }
    std::memcpy(value.data(), &now, sizeof now);
    const auto seq = static_cast<uint64_t>(i);
    std::memcpy(value.data() + sizeof now, &seq, sizeof seq);
    while (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, value.data(), value.size(), nullptr, 0,
                            nullptr) == -1) {
      rd_kafka_resp_err_t err = rd_kafka_last_error();
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop.stop_requested()) {
        state.error = fmt::format("latency produce refused: {}", rd_kafka_err2str(err));
        state.failed.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      rd_kafka_poll(rk, 1);
    }
    state.sent.store(i + 1, std::memory_order_relaxed);
    rd_kafka_poll(rk, 0);
  }
  if (rd_kafka_flush(rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR && state.error.empty()) {
    state.error = fmt::format("{} latency records unacknowledged 10 s after the last send",
                              rd_kafka_outq_len(rk));
    state.failed.fetch_add(1, std::memory_order_relaxed);
  }
  state.done_ns.store(monotonic_ns(), std::memory_order_release);
}

double to_ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

// Sends one record carrying kWarmUpSeq and waits until the consumer gets it; returns its
// send-to-receipt time in ns. Throws BenchError if it fails or does not arrive in time.
int64_t send_warm_up(rd_kafka_t* producer, rd_kafka_topic_t* rkt, rd_kafka_t* consumer,
                     const PayloadPool& pool, SendState& state, const std::string& consume_topic) {
  std::vector<char> value(pool.record(0), pool.record(0) + pool.record_size());
  const int64_t sent_ns = monotonic_ns();
  std::memcpy(value.data(), &sent_ns, sizeof sent_ns);
  std::memcpy(value.data() + sizeof sent_ns, &kWarmUpSeq, sizeof kWarmUpSeq);
  if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, value.data(), value.size(), nullptr, 0,
                       nullptr) == -1) {
    throw BenchError(fmt::format("warm-up record refused: {}",
                                 rd_kafka_err2str(rd_kafka_last_error())));
  }
  while (monotonic_ns() - sent_ns < kWarmUpTimeoutNs) {
    rd_kafka_poll(producer, 0);
    if (state.failed.load(std::memory_order_relaxed) > 0) {
      throw BenchError(fmt::format("warm-up record: {}", state.error));
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer, 10);
    if (msg == nullptr) continue;
    const int64_t recv_ns = monotonic_ns();
    uint64_t seq = 0;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR && msg->len >= kHeaderBytes) {
      std::memcpy(&seq, static_cast<const char*>(msg->payload) + sizeof(int64_t), sizeof seq);
    }
    const bool is_warm_up = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR && seq == kWarmUpSeq;
    rd_kafka_message_destroy(msg);
    if (is_warm_up) return recv_ns - sent_ns;
  }
  throw BenchError(fmt::format("{}: the warm-up record did not arrive within {} s", consume_topic,
                               kWarmUpTimeoutNs / 1'000'000'000));
}

}  // namespace

int64_t nearest_rank(const std::vector<int64_t>& sorted, double q) {
  auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

LatencySummary summarize(const std::vector<int64_t>& samples_ns) {
  std::vector<int64_t> sorted;
  sorted.reserve(samples_ns.size());
  for (int64_t v : samples_ns) {
    if (v >= 0) sorted.push_back(v);
  }
  LatencySummary out;
  out.samples = static_cast<int64_t>(sorted.size());
  if (sorted.empty()) return out;
  std::sort(sorted.begin(), sorted.end());
  out.p50_ms = to_ms(nearest_rank(sorted, 0.50));
  out.p99_ms = to_ms(nearest_rank(sorted, 0.99));
  out.p999_ms = to_ms(nearest_rank(sorted, 0.999));
  out.max_ms = to_ms(sorted.back());
  out.min_ms = to_ms(sorted.front());
  out.mean_ms = to_ms(std::accumulate(sorted.begin(), sorted.end(), int64_t{0}) /
                      static_cast<int64_t>(sorted.size()));
  return out;
}

LatencyResult run_latency(const Options& options, const PayloadPool& pool,
                          const std::string& topic) {
  return run_latency(options, pool, LatencyRoute{options.bootstrap, topic, options.bootstrap, topic});
}

LatencyResult run_latency(const Options& options, const PayloadPool& pool,
                          const LatencyRoute& route) {
  const std::string& topic = route.produce_topic;
  const std::string& consume_topic = route.consume_topic;
  LatencyResult result;
  // The phases before leave their last gigabyte or so dirty in the page cache (the kernel's
  // dirty limits), and an fsync of this phase would wait behind that writeback: measured in
  // mirror mode, the source's acks=all p99 was 78 ms for the first two seconds after the copy
  // and under 30 ms after. sync(2) first, timed: this phase measures its own load.
  const auto settle_start = std::chrono::steady_clock::now();
  ::sync();
  result.settle_sync_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - settle_start).count();
  result.topic = topic;
  result.consume_topic = consume_topic;
  result.rate_per_s = options.latency_rate;
  result.seconds = options.latency_seconds;
  const int64_t count = std::max<int64_t>(
      1, std::llround(static_cast<double>(options.latency_rate) * options.latency_seconds));
  SendState state;
  state.ack_ns.assign(static_cast<size_t>(count), -1);

  KafkaConfig pconf(route.produce_bootstrap, options.client_properties);
  pconf.set("acks", "all")
      // Default 0: each record is sent at once, so the phase measures the broker rather
      // than client-side batching.
      .set("linger.ms", std::to_string(options.latency_linger_ms))
      .set("compression.type", "none")
      .set("enable.idempotence", "false")
      .set("message.timeout.ms", "10000")
      .set("statistics.interval.ms", std::to_string(kAckStatsWindowMs));
  rd_kafka_conf_set_dr_msg_cb(pconf.raw(), on_delivery);
  rd_kafka_conf_set_stats_cb(pconf.raw(), on_stats);
  rd_kafka_conf_set_opaque(pconf.raw(), &state);
  result.producer_settings = pconf.settings();
  KafkaHandle producer = make_producer(pconf);
  TopicHandle rkt = open_topic(producer.get(), topic);
  wait_for_leaders(producer.get(), rkt.get(), 1, std::chrono::seconds(10));

  KafkaConfig cconf(route.consume_bootstrap, options.client_properties);
  cconf.set("group.id", fmt::format("ferry-bench-latency-{}", ::getpid()))
      .set("enable.auto.commit", "false")
      .set("enable.auto.offset.store", "false")
      .set("enable.partition.eof", "true")
      // librdkafka's default. A broker that answers a parked Fetch as soon as data arrives
      // (fetch.min.bytes=1) makes this irrelevant; one that sits out the wait shows up as
      // latencies near 500 ms.
      .set("fetch.wait.max.ms", "500");
  result.consumer_settings = cconf.settings();
  KafkaHandle consumer = make_consumer(cconf);
  assign_from_beginning(consumer.get(), consume_topic, 1);

  // Start sending only once the consumer has reached the (empty) end of the log, so
  // connection setup and the offset lookup are not charged to the first records.
  const int64_t ready_deadline = monotonic_ns() + 10'000'000'000;
  bool caught_up = false;
  while (!caught_up) {
    if (monotonic_ns() >= ready_deadline) {
      throw BenchError(
          fmt::format("{}: consumer saw no end-of-partition within 10 s", consume_topic));
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer.get(), 100);
    if (msg == nullptr) continue;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      caught_up = true;
    } else if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_message_destroy(msg);
      throw BenchError(fmt::format("{}: fresh topic already holds records", consume_topic));
    } else if (result.client_errors++ < 10) {
      std::fprintf(stderr, "ferry-bench: latency consumer: %s\n", rd_kafka_message_errstr(msg));
    }
    rd_kafka_message_destroy(msg);
  }
  if (route.warm_up) {
    result.warm_up_ms = to_ms(send_warm_up(producer.get(), rkt.get(), consumer.get(), pool,
                                           state, consume_topic));
  }

  std::vector<int64_t> latency_ns(static_cast<size_t>(count), -1);
  int64_t received = 0;
  // The disk's fsync latency at the same moment, on the side (kDiskProbeIntervalMs apart). The
  // jthread stops and joins it on every way out of this function.
  std::optional<FsyncRateResult> probe;
  std::string probe_error;
  std::jthread disk_probe([&](std::stop_token stop) {
    try {
      probe = probe_fsync_latency(options.data_dir, kDiskProbeBytes, kDiskProbeIntervalMs, stop);
    } catch (const BenchError& e) {
      probe_error = e.what();
    }
  });
  {
    std::jthread sender(send_paced, producer.get(), rkt.get(), std::cref(options),
                        std::cref(pool), count, std::ref(state));
    while (received < count && state.failed.load(std::memory_order_relaxed) == 0) {
      const int64_t done = state.done_ns.load(std::memory_order_acquire);
      if (done != 0 && monotonic_ns() - done > kDrainNs) break;
      rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer.get(), 50);
      if (msg == nullptr) continue;
      const int64_t recv_ns = monotonic_ns();
      if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR && msg->len >= kHeaderBytes) {
        int64_t sent_ns = 0;
        uint64_t seq = 0;
        std::memcpy(&sent_ns, msg->payload, sizeof sent_ns);
        std::memcpy(&seq, static_cast<const char*>(msg->payload) + sizeof sent_ns, sizeof seq);
        if (seq < static_cast<uint64_t>(count) && latency_ns[seq] < 0) {
          latency_ns[seq] = recv_ns - sent_ns;
          ++received;
        } else {
          ++result.duplicates;
        }
      } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                 msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (result.client_errors++ < 10) {
          std::fprintf(stderr, "ferry-bench: latency consumer: %s\n", rd_kafka_message_errstr(msg));
        }
      }
      rd_kafka_message_destroy(msg);
    }
    if (state.failed.load(std::memory_order_relaxed) > 0) sender.request_stop();
  }  // joins the sender
  disk_probe.request_stop();
  disk_probe.join();
  result.disk_fsync = std::move(probe);
  if (!probe_error.empty()) result.warnings.push_back("disk fsync probe: " + probe_error);

  if (state.failed.load() > 0) throw BenchError(fmt::format("{}: {}", topic, state.error));
  result.sent = state.sent.load();
  const int64_t acked = state.acked.load();
  if (received < acked) {
    throw BenchError(fmt::format(
        "{}: {} of {} acknowledged records had not reached the consumer 5 s after the last send",
        topic, acked - received, acked));
  }

  result.end_to_end = summarize(latency_ns);
  result.produce_ack = summarize(state.ack_ns);
  result.ack_timing = std::move(state.timing);
  if (result.end_to_end.samples == 0) {
    throw BenchError(fmt::format("{}: no latency sample received", topic));
  }
  result.max_behind_schedule_ms = to_ms(state.max_behind_ns.load());
  // Record i was scheduled at i / rate seconds; the schedule, not the actual send time, keeps
  // the buckets equal in size even when the sender slipped.
  for (size_t i = 0; i < latency_ns.size(); ++i) {
    const auto second = static_cast<size_t>(static_cast<double>(i) / options.latency_rate);
    if (second >= result.max_by_send_second_ms.size()) {
      result.max_by_send_second_ms.resize(second + 1, -1);
    }
    if (latency_ns[i] >= 0) {
      double& worst = result.max_by_send_second_ms[second];
      worst = std::max(worst, to_ms(latency_ns[i]));
    }
  }
  if (result.duplicates > 0) {
    result.warnings.push_back(
        fmt::format("{}: {} record(s) delivered to the consumer twice", topic, result.duplicates));
  }
  if (result.max_behind_schedule_ms > 100) {
    result.warnings.push_back(fmt::format(
        "{}: sender fell up to {:.1f} ms behind its {}/s schedule; latencies are optimistic",
        topic, result.max_behind_schedule_ms, result.rate_per_s));
  }
  return result;
}

std::string disk_probe_line(const LatencyResult& l) {
  if (!l.disk_fsync) return {};
  const LatencySummary disk = summarize(l.disk_fsync->round_ns);
  return fmt::format("the disk meanwhile: {}-byte append + fdatasync p50 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms ({} probes)",
                     l.disk_fsync->write_bytes, disk.p50_ms, disk.p99_ms, disk.max_ms, disk.samples);
}

}  // namespace ferry::bench
