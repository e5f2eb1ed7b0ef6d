#include "mirror/source_ends.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "common/clock.h"
#include "mirror/flow_internal.h"

namespace ferry::mirror {
namespace {

/// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID).
std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

SourceEndsView::SourceEndsView(const FlowConfig& flow, const ClusterConfig& source, FlowConditions& conditions,
                               PartitionMap& partitions, std::mutex& partitions_mu)
    : flow_(flow), source_(source), conditions_(conditions), partitions_(partitions), partitions_mu_(partitions_mu) {}

std::pair<size_t, size_t> SourceEndsView::read(rd_kafka_t* rk, std::vector<client::TopicPartitionKey> keys,
                                               int64_t sent_ms, bool only_raise, std::chrono::milliseconds timeout) {
  if (keys.empty()) {
    std::lock_guard lk(partitions_mu_);
    for (const auto& [key, _] : partitions_) keys.push_back(key);
  }
  if (keys.empty()) return {0, 0};
  const auto ends = client::list_offsets(rk, keys, client::kListOffsetsLatest, timeout);
  size_t answered = 0;
  std::lock_guard lk(partitions_mu_);
  for (const auto& [key, po] : ends) {
    if (po.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    ++answered;
    auto it = partitions_.find(key);
    if (it == partitions_.end()) continue;
    it->second->observe_source_end(po.offset, sent_ms, only_raise);
  }
  return {keys.size(), keys.size() - answered};
}

bool SourceEndsView::source_known_down() const {
  return source_down_ms_ != 0 || conditions_.has("source");
}

void SourceEndsView::error_cb(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* self = static_cast<SourceEndsView*>(opaque);
  if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) return;
  int64_t none = 0;
  if (self->source_down_ms_.compare_exchange_strong(none, wall_clock_ms()))
    spdlog::warn("flow {}: every connection to {} is down ({})", self->flow_.name(), self->flow_.source, reason);
}

void SourceEndsView::run(const std::atomic<bool>& running, const std::atomic<bool>& paused, std::mutex& wake_mu,
                         std::condition_variable& wake) {
  using namespace std::chrono_literals;
  client::Handle probe;
  // The read's own bound: short, so a dead source is noticed fast, and doubled after each read
  // that timed out, so a slow (distant) source still answers; kSourceEndsTimeout at most.
  std::chrono::milliseconds read_timeout = 250ms;
  while (running) {
    const auto started = std::chrono::steady_clock::now();
    std::chrono::milliseconds interval = paused ? 1000ms : 50ms;
    try {
      if (!probe) {
        // A producer-type handle: ListOffsets needs no group, and librdkafka 2.0.2 serves the
        // error callback of a consumer with a group.id from the consumer queue, not rd_kafka_poll.
        rd_kafka_conf_t* conf = client::make_conf(cluster_properties(source_, "ferry-mirror-ends"));
        rd_kafka_conf_set_opaque(conf, this);
        rd_kafka_conf_set_error_cb(conf, &SourceEndsView::error_cb);
        probe = client::make_handle(RD_KAFKA_PRODUCER, conf);
      }
      rd_kafka_poll(probe.get(), 0);  // serves source_error_cb
      const auto cpu_before = thread_cpu_time();
      auto [asked, missing] = read(probe.get(), {}, wall_clock_ms(), true, read_timeout);
      if (asked == 0) {
        // No partition held (a flow started paused, the reverse of a pair): whether the source
        // answers at all still decides source_reachable. A Metadata round trip tells.
        const rd_kafka_metadata_t* md = nullptr;
        const auto err = rd_kafka_metadata(probe.get(), 0, nullptr, &md, static_cast<int>(read_timeout.count()));
        if (md) rd_kafka_metadata_destroy(md);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw client::KafkaError(err, fmt::format("Metadata: {}", rd_kafka_err2str(err)));
        asked = 1;  // answered
      }
      rd_kafka_poll(probe.get(), 0);
      if (asked > 0 && missing == 0) {
        source_down_ms_ = 0;
        conditions_.clear("source");
        conditions_.clear("source-ends");
      } else if (missing > 0) {
        // The source answers, so it is not down; those partitions' views age, and say so.
        source_down_ms_ = 0;
        conditions_.clear("source");
        conditions_.set("source-ends", fmt::format("cluster {}: {} of {} partition(s) gave no end offset",
                                                 flow_.source, missing, asked));
      }
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      // The read's CPU, about as much again in librdkafka's broker thread, grows with the
      // partition count (10,000 partitions kept this thread and that one busy half the time, 1.1
      // cores while the flow was idle): reading at most every 10 x its CPU time keeps both below
      // ~20 % of a core, while a distant source (wall time, little CPU) is still read every
      // 2 x the round trip.
      const auto cpu = std::chrono::duration_cast<std::chrono::milliseconds>(thread_cpu_time() - cpu_before);
      interval = std::max({interval, 2 * took, 10 * cpu});
      read_timeout = std::clamp(4 * took, 250ms, kSourceEndsTimeout);
    } catch (const client::KafkaError& e) {
      if (probe) rd_kafka_poll(probe.get(), 0);
      // A timeout below the longest bound may be a distant source: wait longer next time. At the
      // bound, or on any other failure, the source counts as unreachable.
      if (e.err() == RD_KAFKA_RESP_ERR__TIMED_OUT && read_timeout < kSourceEndsTimeout && source_down_ms_ == 0) {
        read_timeout = std::min(2 * read_timeout, kSourceEndsTimeout);
      } else {
        conditions_.set("source", fmt::format("cluster {}: end offsets: {}", flow_.source, e.what()));
      }
    } catch (const std::exception& e) {
      conditions_.set("source", fmt::format("cluster {}: end offsets: {}", flow_.source, e.what()));
      interval = 1000ms;
    }
    std::unique_lock lk(wake_mu);
    wake.wait_until(lk, started + interval, [&] { return !running; });
  }
}

}  // namespace ferry::mirror
