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

std::map<std::pair<std::string, int32_t>, std::vector<OffsetSync>> Flow::read_sync_history(
    client::Admin& source, rd_kafka_t* source_probe, const std::set<std::pair<std::string, int32_t>>& wanted,
    bool& truncated) {
  std::map<std::pair<std::string, int32_t>, std::vector<OffsetSync>> history;
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
  // assignment replaces them.
  if (leaving_for_pause_ || (consumer_ && rd_kafka_assignment_lost(consumer_.get()))) {
    if (!leaving_for_pause_)
      spdlog::warn("flow {}: assignment lost (session expired; is {} reachable?); keeping the last known positions",
                   flow_.name(), flow_.source);
    return;
  }
  std::lock_guard lk(partitions_mu_);
  partitions_.clear();
  ++assign_generation_;
}

bool Flow::copied_from_source_start(const PartitionState& st, int64_t source_log_start, client::Admin& target,
                                    rd_kafka_t* target_probe, rd_kafka_t* source_probe) {
  // The oldest record of this flow still on the target. If the source no longer holds any record
  // below its upstream offset, every record a source consumer could still read at or above a
  // committed offset below it was replicated, so translating such an offset to this record
  // re-delivers nothing and skips nothing (docs/mirror.md, "Offsets below the first record").
  const auto w = target.watermarks(st.remote_topic, st.partition);
  std::optional<int64_t> first;
  for_each_replicated(target_probe, st.remote_topic, st.partition, w.low, std::min(w.high, w.low + 1000), flow_.source,
                      st.partition, [&](int64_t upstream, int64_t) {
                        if (!first) first = upstream;
                      });
  if (!first) return false;
  // The mapping must reach down to that record, or an offset below the mapping's first record
  // would be translated over records it does not know (a mapping rebuilt from part of the target).
  const auto known = st.mapping.first_known_upstream();
  if (!known || *known > *first || st.mapping.runs_dropped() > 0) return false;
  // Retention moves the source's log start past deleted records; compaction leaves holes behind
  // it, so what counts is whether any record below the first copied one is still readable.
  return !first_record_offset(source_probe, st.source_topic, st.partition, source_log_start, *first);
}

void Flow::on_assign(rd_kafka_topic_partition_list_t* parts) {
  const auto routes = discovery_.routes();
  PartitionList list(rd_kafka_topic_partition_list_new(parts->cnt), &rd_kafka_topic_partition_list_destroy);
  PartitionMap states;
  // The translation history survives restarts in the syncs topic: read it back once for all the
  // partitions given to this process.
  std::set<std::pair<std::string, int32_t>> wanted;
  for (int i = 0; i < parts->cnt; ++i) wanted.emplace(parts->elems[i].topic, parts->elems[i].partition);
  if (paused_) return;  // a pause leaves the group before reading anything
  // A source known to be gone is not asked (each read would wait out its timeout, holding up the
  // data thread and with it a pause, i.e. an unplanned failover): the mapping is then rebuilt
  // from the target alone, and the resume point is not checked against the source.
  const bool source_down = source_known_down();
  std::map<std::pair<std::string, int32_t>, std::vector<OffsetSync>> history;
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
  std::vector<int> query_of(static_cast<size_t>(parts->cnt), -1);
  for (int i = 0; i < parts->cnt; ++i) {
    auto route = routes.find(parts->elems[i].topic);
    if (route == routes.end()) continue;  // subscribed a moment ago, no longer replicated
    query_of[static_cast<size_t>(i)] = static_cast<int>(queries.size());
    queries.push_back({route->second.remote_topic, parts->elems[i].partition});
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
  for (int i = 0; i < parts->cnt; ++i) {
    const auto& tp = parts->elems[i];
    const int q = query_of[static_cast<size_t>(i)];
    if (q < 0) continue;
    auto st = std::make_unique<PartitionState>(tp.topic, queries[static_cast<size_t>(q)].topic, tp.partition,
                                               flow_.resync_every());
    if (auto l = limits.find(st->remote_topic); l != limits.end()) st->limits = l->second;
    st->producer = producer_for(st->limits);
    int64_t start = RD_KAFKA_OFFSET_BEGINNING;
    if (const auto& tail = tails[static_cast<size_t>(q)]) {
      start = tail->upstream_offset + 1;
      try {
        anchor_mapping(*st, *tail, history[{st->source_topic, tp.partition}], history_truncated, probe_.get(), true);
      } catch (const std::exception& e) {
        note_error(fmt::format("cannot rebuild the translation of {}-{}: {}", tp.topic, tp.partition, e.what()));
        st->mapping = OffsetMapping(OffsetMapping::kDefaultMaxRuns, flow_.resync_every());
      }
    }
    // Check the resume point against what the source still holds: records deleted by retention
    // before they were copied are a loss to report, never to skip silently; a source partition
    // that now ends before the resume point was recreated and is copied again from its start.
    try {
      if (source_down || paused_) throw std::runtime_error(fmt::format("{} is unreachable", flow_.source));
      const auto w = source_admin_->watermarks(tp.topic, tp.partition);
      if (start >= 0 && start > w.high) {
        note_error(fmt::format("{}-{} ends at {} but {} was replicated up to {}: the source topic was recreated; "
                               "copying it again from its start",
                               tp.topic, tp.partition, w.high, st->remote_topic, start));
        count_source_anomaly(tp.topic, tp.partition, "recreated", 1);
        st->mapping = OffsetMapping(OffsetMapping::kDefaultMaxRuns, flow_.resync_every());
        start = RD_KAFKA_OFFSET_BEGINNING;
      } else if (start >= 0 && start < w.low) {
        note_error(fmt::format("{}-{}: offsets {}..{} were deleted on the source before they were replicated",
                               tp.topic, tp.partition, start, w.low - 1));
        count_source_anomaly(tp.topic, tp.partition, "lost_to_retention", w.low - start);
      }
      // Checked on every assignment: the mapping was rebuilt, and must reach the flow's oldest
      // record on the target again before offsets below it translate to it.
      if (start >= 0 && copied_from_source_start(*st, w.low, *target_admin_, probe_.get(), source_probe_.get()))
        st->copied_from_start = true;
    } catch (const std::exception& e) {
      note_error(fmt::format("cannot check {}-{} on {}: {}", tp.topic, tp.partition, flow_.source, e.what()));
    }
    st->start_at(start < 0 ? 0 : start);
    // A copy that begins now begins at the source's start. Any later assignment (in this process
    // or another) derives it again with copied_from_source_start(), which also requires the
    // rebuilt mapping to reach the flow's oldest record on the target.
    if (start < 0) st->copied_from_start = true;
    const metrics::Labels labels{{"source", flow_.source},
                                 {"target", flow_.target},
                                 {"topic", st->remote_topic},
                                 {"partition", std::to_string(tp.partition)}};
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
                            "Source log end offset minus the next source offset to replicate.", labels, [this, raw, key = std::pair(st->source_topic, tp.partition)] {
                              std::lock_guard lk(partitions_mu_);
                              auto it = partitions_.find(key);
                              if (it == partitions_.end() || it->second.get() != raw) return 0.0;
                              return static_cast<double>(raw->lag_records());
                            });
    spdlog::info("flow {}: {}-{} -> {}-{} resumes at source offset {}", flow_.name(), tp.topic, tp.partition,
                 st->remote_topic, tp.partition, start < 0 ? std::string("beginning") : std::to_string(start));
    rd_kafka_topic_partition_list_add(list.get(), tp.topic, tp.partition)->offset = start;
    states.emplace(std::pair(st->source_topic, tp.partition), std::move(st));
  }
  {
    std::lock_guard lk(partitions_mu_);
    partitions_ = std::move(states);
  }
  ++assign_generation_;
  rd_kafka_assign(consumer_.get(), list.get());
  // librdkafka keeps a partition paused across assignments: one stopped by a refused record
  // (refuse_partition) starts again here with a fresh state, and meets the record again.
  rd_kafka_resume_partitions(consumer_.get(), list.get());
}

void Flow::anchor_mapping(PartitionState& st, const ReplicatedTail& tail, const std::vector<OffsetSync>& history,
                          bool truncated, rd_kafka_t* probe, bool emit) {
  // Reload what was written before when the target confirms it, and complete it from the flow's
  // records the target holds past the last sync (a crash can lose syncs, never data); without a
  // history that matches, rebuild from the target's records alone. Never a mapping that starts at
  // the tail as if nothing came before: older offsets would translate to the restart point.
  const auto outcome = anchor_offset_mapping(
      st.mapping, OffsetMapping::kDefaultMaxRuns, flow_.resync_every(), history,
      truncated ? SyncHistory::kMayBeTruncated : SyncHistory::kComplete,
      OffsetSync{tail.upstream_offset, tail.downstream_offset}, tail.log_start_offset, kMaxRebuildRecords,
      [&](int64_t from, int64_t to, const std::function<void(int64_t, int64_t)>& each) {
        for_each_replicated(probe, st.remote_topic, st.partition, from, to, flow_.source, st.partition, each);
      });
  if (outcome.source == AnchorOutcome::Source::kTarget) {
    const auto first = st.mapping.first_known_upstream();
    spdlog::warn("flow {}: {} of {}-{}; translation rebuilt from the {} record(s) of the flow read from {}-{} "
                 "(source offsets {}..{}){}",
                 flow_.name(),
                 outcome.history_mismatch ? "the offset-sync history does not match the target"
                                          : "no offset-sync history",
                 st.source_topic, st.partition, outcome.records_read, st.remote_topic, st.partition,
                 first ? *first : tail.upstream_offset, tail.upstream_offset,
                 outcome.partial ? "; older offsets get no checkpoint" : "");
  }
  if (emit && !outcome.syncs.empty()) emit_offset_syncs(st, outcome.syncs);
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
