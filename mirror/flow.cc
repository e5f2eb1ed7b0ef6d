#include "mirror/flow.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <tuple>

#include "common/clock.h"
#include "mirror/mm2_formats.h"
#include "mirror/provenance.h"
#include "mirror/flow_internal.h"

namespace ferry::mirror {
namespace {

/// The source consumer's fetch sizes unless the cluster's client properties set them: 4 MiB per
/// partition and 16 MiB per response (librdkafka: 1 MiB and 50 MiB). Measured with
/// scripts/bench-wan.sh (docs/mirror.md, "Across a WAN"): +40 % at a 150 ms round trip and no
/// change on loopback, where 16 MiB per partition and 64 MiB per response cost up to half the
/// throughput (longer stalls while the consumer's queue drains a whole response).
constexpr std::pair<const char*, const char*> kWanFetchDefaults[] = {
    {"max.partition.fetch.bytes", "4194304"},
    {"fetch.max.bytes", "16777216"},
};

}  // namespace

Flow::Flow(FlowConfig flow, const std::map<std::string, ClusterConfig>& clusters, metrics::Registry& metrics)
    : flow_(std::move(flow)),
      source_(clusters.at(flow_.source)),
      target_(clusters.at(flow_.target)),
      metrics_(metrics),
      source_admin_(std::make_unique<client::Admin>(cluster_properties(source_, "ferry-mirror-admin"))),
      target_admin_(std::make_unique<client::Admin>(cluster_properties(target_, "ferry-mirror-admin"))),
      conditions_(flow_.name(), flow_.source, flow_.target, metrics),
      discovery_(flow_, *source_admin_, *target_admin_, conditions_),
      keeper_(flow_.name()),
      sync_(flow_, source_, target_, *source_admin_, *target_admin_, metrics, conditions_, partitions_, partitions_mu_),
      ends_(flow_, source_, conditions_, partitions_, partitions_mu_) {
  paused_ = flow_.paused;
  fetch_wakes_ = &metrics_.counter(
      "ferry_mirror_source_fetch_wakes_total",
      "Times the flow woke its source consumer after the consumer's queue had filled (librdkafka then stops fetching "
      "until told, or for up to 1 s): how often the mirror read faster than it could produce.",
      {{"source", flow_.source}, {"target", flow_.target}});
}

Flow::~Flow() { stop(); }

std::string Flow::data_group_id() const { return fmt::format("ferry-mirror.{}.{}", flow_.source, flow_.target); }

std::thread Flow::spawn(const char* name, void (Flow::*loop)()) {
  {
    std::lock_guard lk(threads_mu_);
    live_threads_.insert(name);
  }
  return std::thread([this, name, loop] {
    (this->*loop)();
    std::lock_guard lk(threads_mu_);
    live_threads_.erase(name);
    threads_cv_.notify_all();
  });
}

void Flow::start() {
  running_ = true;
  control_thread_ = spawn("control", &Flow::control_loop);
  data_thread_ = spawn("data", &Flow::data_loop);
  sync_thread_ = spawn("sync", &Flow::sync_loop);
  ends_thread_ = spawn("ends", &Flow::source_ends_loop);
}

void Flow::request_stop() {
  if (!running_.exchange(false)) return;
  wake_.notify_all();
  drain_cv_.notify_all();
}

bool Flow::stop(std::chrono::steady_clock::time_point deadline) {
  request_stop();
  {
    std::unique_lock lk(threads_mu_);
    auto finished = [&] { return live_threads_.empty(); };
    if (deadline == std::chrono::steady_clock::time_point::max())
      threads_cv_.wait(lk, finished);
    else if (!threads_cv_.wait_until(lk, deadline, finished))
      return false;
  }
  for (auto* t : {&data_thread_, &control_thread_, &sync_thread_, &ends_thread_})
    if (t->joinable()) t->join();
  return true;
}

std::vector<std::string> Flow::live_threads() const {
  std::lock_guard lk(threads_mu_);
  return {live_threads_.begin(), live_threads_.end()};
}

void Flow::control_loop() { discovery_.run(running_, wake_mu_, wake_); }

void Flow::sync_loop() { sync_.run(running_, paused_, wake_mu_, wake_); }

void Flow::source_ends_loop() { ends_.run(running_, paused_, wake_mu_, wake_); }

void Flow::make_data_clients() {
  // A pause closes only the consumer (it leaves the group); the other clients stay.
  if (!syncs_producer_) {  // the target producers are made per batch limit, at assignment (producer_for)
    auto syncs_props = cluster_properties(source_, "ferry-mirror-offset-syncs");
    syncs_props["acks"] = "all";
    syncs_props["enable.idempotence"] = "true";
    syncs_producer_ = client::make_handle(RD_KAFKA_PRODUCER, client::make_conf(syncs_props));

    probe_ = make_probe(target_, data_group_id() + ".probe");  // never joined: assign() only

    source_probe_ = make_probe(source_, data_group_id() + ".probe");
  }
  auto consumer_props = cluster_properties(source_, "ferry-mirror-source");
  consumer_props["group.id"] = data_group_id();
  consumer_props["enable.auto.commit"] = "false";  // positions come from the target, never from here
  consumer_props["auto.offset.reset"] = "earliest";
  consumer_props["isolation.level"] = "read_committed";
  consumer_props["partition.assignment.strategy"] = "range";
  // New source partitions join the group's assignment when librdkafka next refreshes metadata:
  // make that as frequent as the flow's own topic refresh.
  consumer_props["topic.metadata.refresh.interval.ms"] =
      std::to_string(std::max<int64_t>(1000, std::chrono::milliseconds(flow_.refresh_topics_interval).count()));
  // A dead mirror's partitions move after its session times out; librdkafka's 45 s default would
  // leave them unreplicated that long. The cluster's client properties may still set it.
  if (!source_.client.contains("session.timeout.ms")) consumer_props["session.timeout.ms"] = "10000";
  // Every member of the group rejoins a rebalance at its next heartbeat: with librdkafka's 3 s, a
  // flow of several tasks (or processes) stood still up to 3 s whenever a topic was added or a
  // member joined. 1 s is a tenth of the session, as Kafka advises at most a third.
  if (!source_.client.contains("heartbeat.interval.ms")) consumer_props["heartbeat.interval.ms"] = "1000";
  // librdkafka has one Fetch in flight per source broker, so a flow moves at most one response
  // per round trip: with its defaults (1 MiB per partition) a 4-partition flow is capped at
  // 4 MiB per round trip, 27 MB/s at 150 ms (docs/mirror.md, "Across a WAN"). The cluster's
  // client properties may still set either key.
  for (const auto& [key, value] : kWanFetchDefaults)
    if (!source_.client.contains(key)) consumer_props[key] = value;
  rd_kafka_conf_t* cconf = client::make_conf(consumer_props);
  rd_kafka_conf_set_opaque(cconf, this);
  rd_kafka_conf_set_rebalance_cb(cconf, &Flow::rebalance_cb);
  consumer_ = client::make_handle(RD_KAFKA_CONSUMER, cconf);
  rd_kafka_poll_set_consumer(consumer_.get());
  read_since_wake_.clear();
  run_topic_ = nullptr;
  keeper_.attach(consumer_.get());
}

void Flow::keep_fetching(const rd_kafka_message_t* m, bool new_run) {
  constexpr size_t kMaxWakePartitions = 256;
  if (m && new_run && read_since_wake_.size() < kMaxWakePartitions)
    read_since_wake_.emplace_back(rd_kafka_topic_name(m->rkt), m->partition);
  if (!keeper_.due(m)) return;
  std::sort(read_since_wake_.begin(), read_since_wake_.end());
  read_since_wake_.erase(std::unique(read_since_wake_.begin(), read_since_wake_.end()), read_since_wake_.end());
  keeper_.wake(std::move(read_since_wake_));
  fetch_wakes_->inc();
  read_since_wake_.clear();
  // The partition being read now goes into the next wake too.
  if (run_topic_) read_since_wake_.emplace_back(rd_kafka_topic_name(run_topic_), run_partition_);
}

void Flow::count_source_anomaly(const std::string& topic, int32_t partition, const char* kind, int64_t records) {
  metrics_
      .counter("ferry_mirror_source_anomalies_total",
               "Source records the mirror could not copy: lost_to_retention (deleted before replication, "
               "counted in records) or recreated (a source partition restarted, counted in events).",
               {{"source", flow_.source}, {"target", flow_.target}, {"topic", topic},
                {"partition", std::to_string(partition)}, {"kind", kind}})
      .inc(static_cast<double>(records));
  anomalies_ += records;
}

void Flow::data_loop() {
  uint64_t subscribed_version = 0;
  auto backoff = std::chrono::seconds(1);
  bool was_paused = false;
  while (running_) {
    try {
      if (paused_) {
        was_paused = true;
        pause_step(subscribed_version);
        continue;
      }
      if (was_paused) {
        // What was kept for the pause goes stale once this process no longer owns the partitions;
        // the next assignment reads every position from the target again.
        was_paused = false;
        std::lock_guard lk(partitions_mu_);
        partitions_.clear();
        revoked_.clear();
        ++assign_generation_;
      }
      if (!consumer_) make_data_clients();
      // The topic list is copied only when it changed (it is as long as the flow has topics).
      if (subscribed_version == 0 || discovery_.subscription_version() != subscribed_version) {
        const auto [version, topics] = discovery_.subscription();
        if (topics.empty()) {
          std::unique_lock lk(wake_mu_);
          wake_.wait_for(lk, std::chrono::milliseconds(200), [&] { return !running_; });
          continue;
        }
        PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())),
                           &rd_kafka_topic_partition_list_destroy);
        for (const auto& t : topics) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
        if (auto err = rd_kafka_subscribe(consumer_.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
          throw client::KafkaError(err, fmt::format("subscribe: {}", rd_kafka_err2str(err)));
        subscribed_version = version;
      }
      // Backpressure: while the target is slow or away, stop reading rather than buffer without
      // bound (the producer never drops a record: message.timeout.ms = 0).
      poll_producers(0);
      rd_kafka_poll(syncs_producer_.get(), 0);
      if (reset_needed_) reset_positions("a record could not be delivered");
      recheck_refused();
      if (paused_) continue;  // never read past a pause request
      if (producers_outq() > 100'000) {
        poll_producers(50);
        continue;
      }
      Message m(rd_kafka_consumer_poll(consumer_.get(), 100), &rd_kafka_message_destroy);
      const bool record = m && m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
      const bool new_run = record && (m->rkt != run_topic_ || m->partition != run_partition_);
      if (new_run) {
        run_topic_ = m->rkt;
        run_partition_ = m->partition;
      }
      keep_fetching(record ? m.get() : nullptr, new_run);
      if (!m) continue;
      if (record) {
        replicate(m.get(), new_run);
        clear_condition("source");
        clear_condition("source-read");
        clear_condition("data");
      } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        clear_condition("source");
        clear_condition("source-read");
      } else {
        // Connection failures also clear when the control thread next reaches the source; other
        // read errors (authorization, a deleted topic) only when records flow again.
        const bool transport = m->err == RD_KAFKA_RESP_ERR__TRANSPORT || m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                               m->err == RD_KAFKA_RESP_ERR__RESOLVE;
        set_condition(transport ? "source" : "source-read",
                      fmt::format("reading from {}: {}", flow_.source, rd_kafka_message_errstr(m.get())));
      }
      backoff = std::chrono::seconds(1);
    } catch (const std::exception& e) {
      set_condition("data", fmt::format("data path: {}", e.what()));
      // A record read but not handed to the producer must be read again: start over from what
      // the target holds rather than leave a gap.
      if (consumer_) reset_needed_ = true;
      std::unique_lock lk(wake_mu_);
      wake_.wait_for(lk, backoff, [&] { return !running_; });
      backoff = std::min(backoff * 2, std::chrono::seconds(30));
    }
  }
  if (consumer_) {
    keeper_.detach();
    rd_kafka_consumer_close(consumer_.get());  // revokes (flushing the producer) and leaves the group
    consumer_.reset();
    consumer_paused_.clear();
  }
  producers_.clear();
  syncs_producer_.reset();
  probe_.reset();
}

void Flow::pause_step(uint64_t& subscribed_version) {
  if (consumer_) {
    // Drain before leaving the group: the next owner (or the resume) reads its positions from
    // the target, so everything handed to the producer must have landed, with its offset syncs.
    // Short flushes keep the loop responsive to a resume or a stop.
    poll_producers(0);
    if (producers_outq() > 0) {
      flush_producers(100);
      return;
    }
    if (reset_needed_) reset_positions("a record could not be delivered");  // positions from the target
    if (rd_kafka_outq_len(syncs_producer_.get()) > 0) {
      // Offset syncs go to the source. When it is gone (an unplanned failover pauses the flow
      // exactly then) they cannot land: after 2 s, ask the source whether it is there at all, and
      // if not, stop waiting for them rather than never finishing the pause.
      // A source the ends thread already knows is down (every broker connection lost, or its
      // reads failing) is not waited for at all: an unplanned failover pauses exactly then.
      const auto now = std::chrono::steady_clock::now();
      if (syncs_wait_since_ == std::chrono::steady_clock::time_point{}) syncs_wait_since_ = now;
      const rd_kafka_metadata_t* md = nullptr;
      if (!source_known_down() &&
          (now - syncs_wait_since_ < std::chrono::seconds(2) ||
           rd_kafka_metadata(syncs_producer_.get(), 0, nullptr, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR)) {
        if (md) rd_kafka_metadata_destroy(md);
        rd_kafka_flush(syncs_producer_.get(), 100);
        return;
      }
      note_error(fmt::format("pausing: {} offset sync(s) cannot be written because {} does not answer; they are "
                             "written if it returns",
                             rd_kafka_outq_len(syncs_producer_.get()), flow_.source),
                 "source");
    }
    syncs_wait_since_ = {};
    // Everything handed over has landed: that is what a pause promises, so answer now. Leaving
    // the group below may take long when the source is gone (the coordinator never answers),
    // and the states kept for the pause no longer change.
    if (!drained_) {
      keep_revoked_for_pause();
      {
        std::lock_guard lk(drain_mu_);
        drained_ = true;
      }
      drain_cv_.notify_all();
    }
    leaving_for_pause_ = true;
    keeper_.detach();
    rd_kafka_consumer_close(consumer_.get());  // on_revoke keeps the drained states
    leaving_for_pause_ = false;
    consumer_.reset();
    consumer_paused_.clear();
    subscribed_version = 0;
    spdlog::info("flow {}: paused; everything read was acknowledged by {}", flow_.name(), flow_.target);
  }
  if (!drained_) {
    keep_revoked_for_pause();
    {
      std::lock_guard lk(drain_mu_);
      drained_ = true;
    }
    drain_cv_.notify_all();
  }
  // Lag keeps counting what the source receives meanwhile: the ends thread reads it (SourceEndsView).
  std::unique_lock lk(wake_mu_);
  wake_.wait_for(lk, std::chrono::milliseconds(100), [&] { return !running_ || !paused_; });
}

void Flow::keep_revoked_for_pause() {
  // Revoked, and paused before the next assignment came: those are still the positions this flow
  // drained, and the pause answer lists them (FlowTasks keeps the furthest position of a partition
  // another task took over meanwhile).
  std::lock_guard lk(partitions_mu_);
  for (auto& [key, st] : revoked_) partitions_.try_emplace(key, std::move(st));
  revoked_.clear();
}

void Flow::replicate(rd_kafka_message_t* m, bool new_run) {
  // A partition's state is looked up once per run of its records. States are only removed with a
  // new assign_generation_.
  PartitionState* st = cached_state_;
  if (new_run || !st || cached_generation_ != assign_generation_) {
    std::lock_guard lk(partitions_mu_);
    auto it = partitions_.find({rd_kafka_topic_name(m->rkt), m->partition});
    cached_state_ = st = it == partitions_.end() ? nullptr : it->second.get();
    cached_generation_ = assign_generation_;
    if (!st) return;  // revoked meanwhile
    records_since_watermarks_ = kWatermarksEvery;  // a new run: read them now
  }
  const std::string& topic = st->source_topic;
  int64_t lo = 0, hi = 0;
  // The consumer's cached watermarks change once per Fetch response: read at a run's start, every
  // kWatermarksEvery records, and whenever the offset is not the next one expected. The cached
  // value is as old as the newest fetch response: never let it lower a fresher end from the
  // source itself (SourceEndsView::read).
  if ((m->offset != st->next_to_produce || ++records_since_watermarks_ >= kWatermarksEvery) &&
      rd_kafka_get_watermark_offsets(consumer_.get(), topic.c_str(), m->partition, &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    records_since_watermarks_ = 0;
    if (hi > st->source_end) st->observe_source_end(hi, 0, true);
  }
  // Stopped at a record the target refuses: what the consumer still had queued for the partition
  // is read again from that record once it is accepted.
  if (!st->refused.empty()) return;
  if (m->offset < st->next_to_produce) {
    if (hi >= st->next_to_produce) return;  // already handed over (a re-fetch after a seek)
    // The partition now ends before what was already copied: the source topic was deleted and
    // recreated, and the consumer fell back to its start. Copy the new records rather than
    // mistake them for ones already sent.
    note_error(fmt::format("{}-{} ends at {} but was replicated up to {}: the source topic was recreated; copying it "
                           "again from offset {}",
                           topic, m->partition, hi, st->next_to_produce, m->offset));
    count_source_anomaly(topic, m->partition, "recreated", 1);
    flush_producers(30'000);  // the old incarnation's records land first
    std::lock_guard lk(partitions_mu_);
    st->restart_after_recreate(m->offset, flow_.resync_every());
  }
  if (m->offset > st->next_to_produce && lo > st->next_to_produce) {
    // The consumer jumped over offsets the source no longer has (retention ran ahead of us):
    // compaction gaps look alike, but there the log start does not pass the skipped offsets.
    const int64_t lost = std::min(lo, m->offset) - st->next_to_produce;
    note_error(fmt::format("{}-{}: {} records deleted on the source before they were replicated (offsets {}..{})", topic,
                           m->partition, lost, st->next_to_produce, st->next_to_produce + lost - 1));
    count_source_anomaly(topic, m->partition, "lost_to_retention", lost);
  }

  rd_kafka_headers_t* in = nullptr;
  rd_kafka_message_headers(m, &in);
  std::optional<std::string_view> origin;
  const void* ov = nullptr;
  size_t os = 0;
  if (in && rd_kafka_header_get_last(in, std::string(kOriginHeader).c_str(), &ov, &os) == RD_KAFKA_RESP_ERR_NO_ERROR)
    origin = std::string_view(static_cast<const char*>(ov), os);
  if (originated_in(origin, flow_.target)) {
    // Written on the target in the first place: copying it back would loop (identity policy).
    std::lock_guard lk(partitions_mu_);
    st->skipped_loop(m->offset);
    ++skipped_loops_;
    return;
  }
  rd_kafka_headers_t* out = in ? rd_kafka_headers_copy(in) : rd_kafka_headers_new(2);
  rd_kafka_header_remove(out, std::string(kUpstreamHeader).c_str());
  rd_kafka_header_remove(out, std::string(kOriginHeader).c_str());
  const std::string origin_value = next_hop_origin(origin, flow_.source);
  const std::string upstream_value = encode_upstream({flow_.source, m->partition, m->offset});
  rd_kafka_header_add(out, std::string(kOriginHeader).c_str(), -1, origin_value.data(), origin_value.size());
  rd_kafka_header_add(out, std::string(kUpstreamHeader).c_str(), -1, upstream_value.data(), upstream_value.size());

  // A record the target cannot take in any batch stops this partition only, before anything
  // after it is sent: the target never holds a gap (issue 13, defect 2).
  const int64_t batch_bytes = record_batch_bytes(*m, out);
  if (batch_bytes > st->limits.batch_limit()) {
    rd_kafka_headers_destroy(out);
    refuse_partition(*st, m->offset, batch_bytes, false,
                     fmt::format("a {}-byte record batch exceeds {} {} of {} (the broker answers {})", batch_bytes,
                                 st->limits.limiting_key(), st->limits.batch_limit(), st->remote_topic,
                                 st->limits.refusal_error()));
    return;
  }
  rd_kafka_timestamp_type_t tstype;
  const int64_t ts = rd_kafka_message_timestamp(m, &tstype);
  // Source heartbeats replicated prove the path end to end: /status reports the newest one's age.
  int64_t heartbeat_ms = -1;
  if (topic == kHeartbeatsTopic && m->payload) {
    try {
      heartbeat_ms = decode_heartbeat_value(std::string_view(static_cast<const char*>(m->payload), m->len)).timestamp_ms;
    } catch (const FormatError&) {
      // Not an MM2 heartbeat (someone else's topic of that name): copied like any record.
    }
  }
  auto* opaque = new InFlight{st, m->offset, ts, m->len + m->key_len, assign_generation_, heartbeat_ms};
  int unknown_partition_retries = 0;
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        st->producer, RD_KAFKA_V_TOPIC(st->remote_topic.c_str()), RD_KAFKA_V_PARTITION(m->partition),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0), RD_KAFKA_V_HEADERS(out), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;  // the producer owns `out` now
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && running_) {
      poll_producers(50);
      continue;
    }
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
      // Larger than this producer's message.max.bytes: as final as the target's refusal.
      rd_kafka_headers_destroy(out);
      delete opaque;
      refuse_partition(*st, m->offset, batch_bytes, false,
                       fmt::format("a {}-byte record is larger than the producer allows ({})", batch_bytes,
                                   rd_kafka_err2str(err)));
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && running_ && ++unknown_partition_retries <= 50) {
      // The remote topic just grew: the producer's cached metadata predates it. Ask again.
      client::refresh_topic_metadata(st->producer, st->remote_topic, std::chrono::seconds(5));
      poll_producers(100);
      continue;
    }
    rd_kafka_headers_destroy(out);
    delete opaque;
    throw client::KafkaError(err, fmt::format("producing to {}-{}: {}", st->remote_topic, m->partition, rd_kafka_err2str(err)));
  }
  {
    std::lock_guard lk(partitions_mu_);
    st->produced(m->offset);
  }
  if (ts > 0) st->record_age->set(static_cast<double>(wall_clock_ms() - ts));
}

void Flow::delivery_cb(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  static_cast<Flow*>(opaque)->on_delivery(m);
}

void Flow::on_delivery(const rd_kafka_message_t* m) {
  std::unique_ptr<InFlight> f(static_cast<InFlight*>(m->_private));
  if (!f) return;
  // A delivery from before the latest (re)assignment belongs to a state that no longer exists:
  // the new state started from what the target held, which includes this record if it landed.
  if (f->generation != assign_generation_) return;
  PartitionState* st = f->partition;
  std::unique_lock lk(partitions_mu_);  // the checkpoint thread reads the mapping and in_flight
  --st->in_flight;
  if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) return;  // our reset
  if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
    set_condition("target", fmt::format("delivery to {}-{} failed: {}", st->remote_topic, st->partition, rd_kafka_err2str(m->err)));
    reset_needed_ = true;
    return;
  }
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // With message.timeout.ms = 0 librdkafka retries everything transient itself: what comes back
    // is final for this record (too large, invalid for the topic, not authorized). It stops this
    // partition only; the others, heartbeats included, keep what they have in flight.
    if (st->refused.empty() || f->upstream_offset < st->refused_at) {
      rd_kafka_headers_t* hdrs = nullptr;
      rd_kafka_message_headers(m, &hdrs);
      const int64_t bytes = record_batch_bytes(*m, hdrs);
      lk.unlock();
      refuse_partition(*st, f->upstream_offset, bytes, true,
                       fmt::format("{} refused it: {} ({})", flow_.target, rd_kafka_err2str(m->err), rd_kafka_err2name(m->err)));
    }
    return;
  }
  if (auto hole = st->landed(f->upstream_offset, flow_.target)) {
    lk.unlock();
    note_error(*hole, "refused");
    lk.lock();
  }
  lk.unlock();
  clear_condition("target");
  for (int64_t seen = last_heartbeat_ms_; f->heartbeat_ms > seen;)
    if (last_heartbeat_ms_.compare_exchange_weak(seen, f->heartbeat_ms)) break;
  lk.lock();
  st->record_count->inc();
  st->bytes->inc(static_cast<double>(f->bytes));
  if (f->source_timestamp > 0) st->latency->observe(static_cast<double>(wall_clock_ms() - f->source_timestamp));
  ++records_;
  std::vector<OffsetSync> syncs;
  try {
    syncs = st->mapping.record(f->upstream_offset, m->offset);
    st->settle();  // records skipped after this one (loops) count once nothing is in flight
  } catch (const std::exception& e) {
    lk.unlock();
    note_error(fmt::format("offset mapping of {}-{}: {}", st->source_topic, st->partition, e.what()));
    return;
  }
  lk.unlock();
  if (!syncs.empty()) emit_offset_syncs(*st, syncs);
}

void Flow::emit_offset_syncs(const PartitionState& p, const std::vector<OffsetSync>& syncs) {
  const std::string topic = flow_.policy.offset_syncs_topic(flow_.target);
  const std::string key = encode(OffsetSyncKey{p.source_topic, p.partition});
  for (const auto& s : syncs) {
    const std::string value = encode(s);
    auto err = rd_kafka_producev(syncs_producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                                 RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      note_error(fmt::format("offset sync for {}-{}: {}", p.source_topic, p.partition, rd_kafka_err2str(err)));
  }
}

}  // namespace ferry::mirror
