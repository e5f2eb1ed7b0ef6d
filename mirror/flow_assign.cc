// How a Flow takes partitions and gives them up (docs/mirror.md "Resuming"): every position comes
// from what the target holds, translation history from the offset-syncs topic; a revoke first
// lets everything in flight land. Split from flow.cc (the data and sync loops).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "mirror/flow.h"
#include "mirror/flow_internal.h"
#include "mirror/mm2_formats.h"
#include "mirror/provenance.h"
#include "mirror/resume.h"

namespace ferry::mirror {

SyncHistoryMap Flow::read_sync_history(
    client::Admin& source, rd_kafka_t* source_probe, const std::set<std::pair<std::string, int32_t>>& wanted,
    bool& truncated) {
  SyncHistoryMap history;
  const std::string topic = flow_.policy.offset_syncs_topic(flow_.target);
  const auto w = source.watermarks(topic, 0);
  truncated = w.low > 0;
  read_range(source_probe, topic, 0, w.low, w.high, [&](const rd_kafka_message_t& m) {
    if (!m.key || !m.payload) return;
    try {
      auto key = decode_offset_sync_key(std::string_view(static_cast<const char*>(m.key), m.key_len));
      if (!wanted.contains({key.topic, key.partition})) return;
      history[{key.topic, key.partition}].push_back(
          decode_offset_sync_value(std::string_view(static_cast<const char*>(m.payload), m.len)));
    } catch (const FormatError&) {
      // Not an offset sync (something else wrote to the topic): not ours to interpret.
    }
  });
  return history;
}

void Flow::rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Flow*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->on_assign(parts);
  } else {
    self->on_revoke();
    rd_kafka_assign(rk, nullptr);
  }
}

void Flow::on_revoke() {
  // Another process may get these partitions next and will read its start positions from the
  // target: everything produced must be acknowledged first, or it would be written twice.
  flush_producers(30'000);
  rd_kafka_flush(syncs_producer_.get(), 10'000);
  if (producers_outq() > 0)
    note_error("records still unacknowledged after 30 s while giving up partitions; the next owner may copy them again");
  // A pause keeps what it drained: /status, the pause answer and checkpoints still need the
  // partitions' positions and mappings. So does an assignment lost to an expired session — the
  // source region is typically gone, and its group coordinator with it: the states hold the last
  // known source end offsets, from which an unplanned failover counts its loss exactly. The next
  // assignment replaces them. A rebalance that reaches a paused flow before it left the group (another
  // task or process of the flow left first) is the same: nothing was read since the pause.
  if (leaving_for_pause_ || paused_ || (consumer_ && rd_kafka_assignment_lost(consumer_.get()))) {
    if (!leaving_for_pause_ && !paused_)
      spdlog::warn("flow {}: assignment lost (session expired; is {} reachable?); keeping the last known positions",
                   flow_.name(), flow_.source);
    return;
  }
  std::lock_guard lk(partitions_mu_);
  revoked_ = std::move(partitions_);
  partitions_.clear();
  ++assign_generation_;
}

void Flow::on_assign(rd_kafka_topic_partition_list_t* parts) {
  // Runs inside the rebalance callback, so it must finish well within max.poll.interval.ms
  // whatever the partition count: every read below is one batched request or pass for all the
  // partitions given to this process, never one per partition.
  const auto started = std::chrono::steady_clock::now();
  const auto routes = discovery_.routes();
  PartitionList list(rd_kafka_topic_partition_list_new(parts->cnt), &rd_kafka_topic_partition_list_destroy);
  // The translation history survives restarts in the syncs topic: read it back once for all the
  // partitions given to this process.
  std::set<std::pair<std::string, int32_t>> wanted;
  for (int i = 0; i < parts->cnt; ++i) wanted.emplace(parts->elems[i].topic, parts->elems[i].partition);
  if (paused_) return;  // a pause leaves the group before reading anything
  // A source known to be gone is not asked (each read would wait out its timeout, holding up the
  // data thread and with it a pause, i.e. an unplanned failover): the mapping is then rebuilt
  // from the target alone, and the resume point is not checked against the source.
  const bool source_down = source_known_down();
  SyncHistoryMap history;
  bool history_truncated = false;
  try {
    if (source_down) throw std::runtime_error(fmt::format("{} is unreachable", flow_.source));
    history = read_sync_history(*source_admin_, source_probe_.get(), wanted, history_truncated);
  } catch (const std::exception& e) {
    note_error(fmt::format("cannot read the offset-syncs history ({}); older group offsets are not translated", e.what()));
  }
  // Where each partition resumes: the newest record of this flow in its remote partition, all
  // partitions read in one pass.
  std::vector<TailQuery> queries;
  std::vector<Takeover> takeovers;
  for (int i = 0; i < parts->cnt; ++i) {
    const auto& tp = parts->elems[i];
    auto route = routes.find(tp.topic);
    if (route == routes.end()) continue;  // subscribed a moment ago, no longer replicated
    queries.push_back({route->second.remote_topic, tp.partition});
    takeovers.push_back({std::make_unique<PartitionState>(tp.topic, route->second.remote_topic, tp.partition,
                                                          flow_.resync_every()),
                         std::nullopt, std::nullopt});
  }
  std::vector<std::optional<ReplicatedTail>> tails;
  for (int attempt = 0; running_ && !paused_; ++attempt) {
    try {
      tails = find_replicated_tails(probe_.get(), *target_admin_, queries, flow_.source);
      clear_condition("target");
      break;
    } catch (const std::exception& e) {
      set_condition("target", fmt::format("cannot read {} to resume: {}", flow_.target, e.what()));
      std::unique_lock lk(wake_mu_);
      wake_.wait_for(lk, std::chrono::seconds(std::min(attempt + 1, 10)), [&] { return !running_ || paused_; });
    }
  }
  if (!running_ || paused_) return;  // a pause leaves the group before reading anything
  for (size_t q = 0; q < takeovers.size(); ++q) takeovers[q].tail = tails[q];
  // What each remote topic accepts in one record batch (issue 13, defect 2), one DescribeConfigs
  // for all: its partitions go through a producer whose batches fit.
  std::map<std::string, TargetLimits> limits;
  {
    std::set<std::string> remotes;
    for (const auto& q : queries) remotes.insert(q.topic);
    try {
      for (const auto& [topic, configs] :
           target_admin_->describe_topic_configs(std::vector<std::string>(remotes.begin(), remotes.end()), false))
        limits[topic] = target_limits_from_configs(configs);
    } catch (const std::exception& e) {
      note_error(fmt::format("cannot read the size limits of the remote topics on {} ({}); batches use librdkafka's "
                             "defaults, and a batch the target refuses stops only its partition",
                             flow_.target, e.what()));
    }
  }
  for (auto& t : takeovers) {
    if (auto l = limits.find(t.st->remote_topic); l != limits.end()) t.st->limits = l->second;
    t.st->producer = producer_for(t.st->limits);
  }
  anchor_mappings(takeovers, history, history_truncated, probe_.get(), true);
  // Check the resume points against what the source still holds: records deleted by retention
  // before they were copied are a loss to report, never to skip silently; a source partition
  // that now ends before the resume point was recreated and is copied again from its start.
  try {
    if (source_down || paused_) throw std::runtime_error(fmt::format("{} is unreachable", flow_.source));
    std::vector<client::TopicPartitionKey> keys;
    for (const auto& t : takeovers) keys.emplace_back(t.st->source_topic, t.st->partition);
    const auto marks = source_admin_->watermarks(keys);
    for (auto& t : takeovers) t.source = marks.at({t.st->source_topic, t.st->partition});
  } catch (const std::exception& e) {
    note_error(fmt::format("cannot check the resume points of {} partition(s) on {}: {}", takeovers.size(),
                           flow_.source, e.what()));
  }
  for (auto& t : takeovers) {
    PartitionState& st = *t.st;
    if (!t.tail || !t.source || t.source->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    const int64_t start = t.tail->upstream_offset + 1;
    if (start > t.source->high) {
      note_error(fmt::format("{}-{} ends at {} but {} was replicated up to {}: the source topic was recreated; "
                             "copying it again from its start",
                             st.source_topic, st.partition, t.source->high, st.remote_topic, start));
      count_source_anomaly(st.source_topic, st.partition, "recreated", 1);
      st.mapping = OffsetMapping(OffsetMapping::kDefaultMaxRuns, flow_.resync_every());
      t.tail.reset();  // copied again from the beginning
    } else if (start < t.source->low) {
      note_error(fmt::format("{}-{}: offsets {}..{} were deleted on the source before they were replicated",
                             st.source_topic, st.partition, start, t.source->low - 1));
      count_source_anomaly(st.source_topic, st.partition, "lost_to_retention", t.source->low - start);
    }
  }
  {
    // One error for all the partitions the source did not answer for (there may be thousands).
    size_t unchecked = 0;
    const Takeover* example = nullptr;
    for (const auto& t : takeovers)
      if (t.tail && t.source && t.source->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++unchecked;
        if (!example) example = &t;
      }
    if (example)
      note_error(fmt::format("cannot check {} partition(s) on {}, e.g. {}-{}: {}", unchecked, flow_.source,
                             example->st->source_topic, example->st->partition, rd_kafka_err2str(example->source->err)));
  }
  // Checked on every assignment: the mapping was rebuilt, and must reach the flow's oldest
  // record on the target again before offsets below it translate to it.
  derive_copied_from_start(takeovers, probe_.get(), source_probe_.get());
  PartitionMap states;
  PartitionList paused(rd_kafka_topic_partition_list_new(0), &rd_kafka_topic_partition_list_destroy);
  size_t from_beginning = 0;
  for (auto& t : takeovers) {
    auto& st = t.st;
    const int64_t start = t.tail ? t.tail->upstream_offset + 1 : RD_KAFKA_OFFSET_BEGINNING;
    st->start_at(start < 0 ? 0 : start);
    // A copy that begins now begins at the source's start. Any later assignment (in this process
    // or another) derives it again with derive_copied_from_start(), which also requires the
    // rebuilt mapping to reach the flow's oldest record on the target.
    if (start < 0) {
      st->copied_from_start = true;
      ++from_beginning;
    }
    const metrics::Labels labels{{"source", flow_.source},
                                 {"target", flow_.target},
                                 {"topic", st->remote_topic},
                                 {"partition", std::to_string(st->partition)}};
    st->record_count = &metrics_.counter("kafka_connect_mirror_mirrorsourceconnector_record_count",
                                         "Records replicated to the target (MM2's record-count).", labels);
    st->bytes = &metrics_.counter("kafka_connect_mirror_mirrorsourceconnector_byte_count",
                                  "Key and value bytes replicated (MM2's byte-rate is its rate).", labels);
    st->latency = &metrics_.histogram("kafka_connect_mirror_mirrorsourceconnector_replication_latency_ms",
                                      "Source record timestamp to target acknowledgement, ms.", latency_buckets(), labels);
    st->record_age = &metrics_.gauge("kafka_connect_mirror_mirrorsourceconnector_record_age_ms",
                                     "Age of the last record replicated when it was read, ms.", labels);
    st->refused_gauge = &metrics_.gauge("ferry_mirror_partition_refused",
                                        "1 while the target refuses a record of this partition for good and its "
                                        "replication is stopped there (the log and /status say why), else 0.",
                                        labels);
    st->refused_gauge->set(0);
    PartitionState* raw = st.get();
    metrics_.gauge_callback("ferry_mirror_replication_lag_records",
                            "Source log end offset minus the next source offset to replicate.", labels, [this, raw, key = std::pair(st->source_topic, st->partition)] {
                              std::lock_guard lk(partitions_mu_);
                              auto it = partitions_.find(key);
                              if (it == partitions_.end() || it->second.get() != raw) return 0.0;
                              return static_cast<double>(raw->lag_records());
                            });
    spdlog::debug("flow {}: {}-{} -> {}-{} resumes at source offset {}", flow_.name(), st->source_topic, st->partition,
                  st->remote_topic, st->partition, start < 0 ? std::string("beginning") : std::to_string(start));
    rd_kafka_topic_partition_list_add(list.get(), st->source_topic.c_str(), st->partition)->offset = start;
    // librdkafka keeps a partition paused across assignments: one stopped by a refused record
    // (refuse_partition) starts again here with a fresh state, and meets the record again.
    if (consumer_paused_.erase({st->source_topic, st->partition}))
      rd_kafka_topic_partition_list_add(paused.get(), st->source_topic.c_str(), st->partition);
    states.emplace(std::pair(st->source_topic, st->partition), std::move(st));
  }
  {
    std::lock_guard lk(partitions_mu_);
    partitions_ = std::move(states);
    revoked_.clear();
  }
  ++assign_generation_;
  rd_kafka_assign(consumer_.get(), list.get());
  if (paused->cnt > 0) rd_kafka_resume_partitions(consumer_.get(), paused.get());
  spdlog::info("flow {}: assigned {} partition(s) in {} ms: {} resume after the flow's newest record on {}, {} from "
               "the source's start (per partition at debug level)",
               flow_.name(), takeovers.size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count(),
               takeovers.size() - from_beginning, flow_.target, from_beginning);
}

void Flow::reset_positions(const char* why) {
  // After a failed delivery the target's content is the only truth: drop what is in flight and
  // start every partition again right after what the target holds.
  spdlog::warn("flow {}: {}; re-reading positions from the target", flow_.name(), why);
  for (auto& [_, p] : producers_) rd_kafka_purge(p.get(), RD_KAFKA_PURGE_F_QUEUE);
  flush_producers(30'000);
  PartitionList assigned(nullptr, &rd_kafka_topic_partition_list_destroy);
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(consumer_.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR) assigned.reset(raw);
  if (assigned) on_assign(assigned.get());
  reset_needed_ = false;
}

}  // namespace ferry::mirror
