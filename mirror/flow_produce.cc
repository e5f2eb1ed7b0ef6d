// The target side of a Flow's data path that issue 13 (defect 2) added: one producer per batch
// limit, so every record batch fits its remote topic's segment.bytes and max.message.bytes, and a
// record the target refuses for good stops its own partition only (docs/mirror.md, "Records the
// target refuses"). Split from flow.cc.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "mirror/flow.h"
#include "mirror/flow_internal.h"

namespace ferry::mirror {

int64_t record_batch_bytes(const rd_kafka_message_t& m, const rd_kafka_headers_t* headers) {
  std::vector<HeaderSize> sizes;
  if (headers) {
    const char* name = nullptr;
    const void* v = nullptr;
    size_t n = 0;
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
      sizes.push_back({std::char_traits<char>::length(name), v ? std::optional(n) : std::nullopt});
  }
  return single_record_batch_bytes(m.key ? std::optional(m.key_len) : std::nullopt,
                                   m.payload ? std::optional(m.len) : std::nullopt, sizes);
}

rd_kafka_t* Flow::producer_for(const TargetLimits& limits) {
  const auto batch = producer_batch_size(limits);
  const auto max_bytes = producer_message_max_bytes(limits);
  const std::pair<int64_t, int64_t> key(batch.value_or(0), max_bytes == kLibrdkafkaDefaultMessageMaxBytes ? 0 : max_bytes);
  auto& p = producers_[key];
  if (!p) {
    auto props = cluster_properties(target_, "ferry-mirror-target");
    props["enable.idempotence"] = "true";
    props["acks"] = "all";
    props["message.timeout.ms"] = "0";  // never give up on a record: a gap would be a loss
    props["linger.ms"] = "5";
    if (batch) props["batch.size"] = std::to_string(*batch);
    if (key.second) props["message.max.bytes"] = std::to_string(max_bytes);
    rd_kafka_conf_t* conf = client::make_conf(props);
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &Flow::delivery_cb);
    p = client::make_handle(RD_KAFKA_PRODUCER, conf);
    if (batch || key.second)
      spdlog::info("flow {}: a producer for {} with batch.size {} and message.max.bytes {} (a remote topic's {} is {})",
                   flow_.name(), flow_.target, batch ? std::to_string(*batch) : "default", max_bytes,
                   limits.limiting_key(), limits.batch_limit());
  }
  return p.get();
}

void Flow::poll_producers(int timeout_ms) {
  for (auto& [_, p] : producers_) {
    rd_kafka_poll(p.get(), timeout_ms);
    timeout_ms = 0;
  }
}

int Flow::producers_outq() const {
  int n = 0;
  for (const auto& [_, p] : producers_) n += rd_kafka_outq_len(p.get());
  return n;
}

void Flow::flush_producers(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (auto& [_, p] : producers_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    rd_kafka_flush(p.get(), static_cast<int>(std::max<int64_t>(0, left.count())));
  }
}

void Flow::refuse_partition(PartitionState& st, int64_t offset, int64_t bytes, bool by_target, const std::string& reason) {
  const std::string what =
      fmt::format("{}-{}: {} refuses source offset {} of {}-{} for good: {}; this partition stops there, the others "
                  "go on",
                  st.remote_topic, st.partition, flow_.target, offset, st.source_topic, st.partition, reason);
  {
    std::lock_guard lk(partitions_mu_);
    st.refuse(offset, bytes, by_target, what, std::chrono::steady_clock::now());
  }
  if (st.refused_gauge) st.refused_gauge->set(1);
  set_condition(fmt::format("refused:{}-{}", st.remote_topic, st.partition), what);
  PartitionList list(rd_kafka_topic_partition_list_new(1), &rd_kafka_topic_partition_list_destroy);
  rd_kafka_topic_partition_list_add(list.get(), st.source_topic.c_str(), st.partition);
  if (consumer_) {
    rd_kafka_pause_partitions(consumer_.get(), list.get());
    consumer_paused_.emplace(st.source_topic, st.partition);
  }
}

void Flow::recheck_refused() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_refused_check_) return;
  next_refused_check_ = now + std::chrono::seconds(1);
  std::vector<PartitionState*> due;
  std::set<std::string> topics;
  {
    std::lock_guard lk(partitions_mu_);
    for (auto& [_, st] : partitions_)
      if (!st->refused.empty() && st->in_flight == 0 && now >= st->recheck_at) {
        due.push_back(st.get());
        topics.insert(st->remote_topic);
      }
  }
  if (due.empty()) return;
  std::map<std::string, std::map<std::string, std::string>> configs;
  try {
    configs = target_admin_->describe_topic_configs(std::vector<std::string>(topics.begin(), topics.end()), false);
  } catch (const std::exception& e) {
    spdlog::debug("flow {}: rechecking refused partitions: {}", flow_.name(), e.what());
    std::lock_guard lk(partitions_mu_);
    for (auto* st : due) st->recheck_at = now + kRefusedRecheck;
    return;
  }
  for (auto* st : due) {
    const auto fresh = target_limits_from_configs(configs[st->remote_topic]);
    bool resume;
    {
      std::lock_guard lk(partitions_mu_);
      resume = st->may_resume(fresh, now);
      if (!resume) st->recheck_at = now + kRefusedRecheck;
    }
    if (!resume) continue;
    rd_kafka_t* producer = producer_for(fresh);
    PartitionList list(rd_kafka_topic_partition_list_new(1), &rd_kafka_topic_partition_list_destroy);
    rd_kafka_topic_partition_list_add(list.get(), st->source_topic.c_str(), st->partition)->offset = st->refused_at;
    if (rd_kafka_error_t* err = rd_kafka_seek_partitions(consumer_.get(), list.get(), 5000)) {
      spdlog::warn("flow {}: cannot seek {}-{} to {}: {}", flow_.name(), st->source_topic, st->partition, st->refused_at,
                   rd_kafka_error_string(err));
      rd_kafka_error_destroy(err);
      std::lock_guard lk(partitions_mu_);
      st->recheck_at = now + kRefusedRecheck;
      continue;
    }
    int64_t from;
    {
      std::lock_guard lk(partitions_mu_);
      from = st->resume_from_refusal(fresh, producer);
    }
    rd_kafka_resume_partitions(consumer_.get(), list.get());
    consumer_paused_.erase({st->source_topic, st->partition});
    if (st->refused_gauge) st->refused_gauge->set(0);
    clear_condition(fmt::format("refused:{}-{}", st->remote_topic, st->partition));
    spdlog::info("flow {}: {}-{} is replicated again from source offset {} ({} of {} is now {})", flow_.name(),
                 st->source_topic, st->partition, from, fresh.limiting_key(), st->remote_topic, fresh.batch_limit());
  }
}

}  // namespace ferry::mirror
