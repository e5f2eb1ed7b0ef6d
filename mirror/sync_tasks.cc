// The sync tasks of a Flow (its "sync" thread): MM2 heartbeats both ways and the checkpoint and
// group offset sync passes, periodic or asked through the control API (docs/mirror.md,
// "Checkpoints and group offset sync", "Heartbeats").
#include "mirror/sync_tasks.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <mutex>
#include <set>

#include "common/clock.h"
#include "mirror/flow_internal.h"
#include "mirror/mm2_formats.h"

namespace ferry::mirror {
namespace {

// Warns once per (flow, group, partition, committed offset) that an offset gets no checkpoint
// because no sync and no target record proves its translation; a group that stays there is not
// repeated every pass.
void warn_untranslatable(const std::string& flow, const std::string& group, const std::string& topic,
                         int32_t partition, int64_t offset, int64_t first_known) {
  static std::mutex mu;
  static std::set<std::string> warned;
  std::string key = fmt::format("{}\n{}\n{}\n{}\n{}", flow, group, topic, partition, offset);
  {
    std::lock_guard lk(mu);
    if (warned.size() > 100'000) warned.clear();
    if (!warned.insert(std::move(key)).second) return;
  }
  spdlog::warn("flow {}: group {} committed {}-{}@{}, below {}, the oldest offset whose translation is known; "
               "no checkpoint for it (a wrong one would skip or re-deliver records)",
               flow, group, topic, partition, offset, first_known);
}

}  // namespace

SyncTasks::SyncTasks(const FlowConfig& flow, const ClusterConfig& source, const ClusterConfig& target,
                     client::Admin& source_admin, client::Admin& target_admin, metrics::Registry& metrics,
                     FlowConditions& conditions, const PartitionMap& partitions, std::mutex& partitions_mu)
    : flow_(flow),
      source_(source),
      target_(target),
      source_admin_(source_admin),
      target_admin_(target_admin),
      metrics_(metrics),
      conditions_(conditions),
      partitions_(partitions),
      partitions_mu_(partitions_mu) {}

std::optional<int64_t> SyncTasks::last_checkpoint_ms() const {
  const int64_t ms = last_checkpoint_ms_;
  return ms > 0 ? std::optional(ms) : std::nullopt;
}

void SyncTasks::run(const std::atomic<bool>& running, const std::atomic<bool>& paused, std::mutex& wake_mu,
                    std::condition_variable& wake) {
  client::Handle source_producer, target_producer;
  using clock = std::chrono::steady_clock;
  auto next_heartbeat = clock::now();
  auto next_checkpoint = clock::now() + flow_.emit_checkpoints_interval;
  auto next_group_sync = clock::now() + flow_.sync_group_offsets_interval;
  while (running) {
    try {
      auto producer_for = [](const ClusterConfig& c) {
        auto props = cluster_properties(c, "ferry-mirror-internal");
        props["acks"] = "all";
        return client::make_handle(RD_KAFKA_PRODUCER, client::make_conf(props));
      };
      if (!source_producer) source_producer = producer_for(source_);
      if (!target_producer) target_producer = producer_for(target_);
      const auto now = clock::now();
      // A paused flow's heartbeats would tell ferry-dr the path works; its checkpoints belong to
      // whoever calls the control API now.
      if (!paused && flow_.emit_heartbeats_enabled && now >= next_heartbeat) {
        next_heartbeat = now + flow_.emit_heartbeats_interval;
        emit_heartbeats(source_producer.get(), target_producer.get());
      }
      if (flow_.emit_checkpoints_enabled && now >= next_checkpoint && !paused) {
        std::unique_lock pass(pass_mu_);
        if (!paused) {  // a pause that came while waiting for the lock wins
          next_checkpoint = now + flow_.emit_checkpoints_interval;
          const bool sync_groups = flow_.sync_group_offsets_enabled && now >= next_group_sync;
          if (sync_groups) next_group_sync = now + flow_.sync_group_offsets_interval;
          checkpoint_pass(target_producer.get(), sync_groups, nullptr, clock::time_point::max());
        }
      }
      rd_kafka_poll(source_producer.get(), 0);
      rd_kafka_poll(target_producer.get(), 0);
      conditions_.clear("sync");
    } catch (const std::exception& e) {
      conditions_.set("sync", fmt::format("heartbeats/checkpoints: {}", e.what()));
    }
    std::unique_lock lk(wake_mu);
    wake.wait_for(lk, std::chrono::milliseconds(200), [&] { return !running; });
  }
}

void SyncTasks::emit_heartbeats(rd_kafka_t* source_producer, rd_kafka_t* target_producer) {
  // MM2 emits a heartbeat for every pair into the pair's target; the reverse pair's heartbeats land
  // in this flow's source, so replicating them (as <source>.heartbeats) proves the path end to end.
  const std::string topic(kHeartbeatsTopic);
  const std::string value = encode(HeartbeatValue{wall_clock_ms()});
  auto send = [&](rd_kafka_t* p, const std::string& from, const std::string& to) {
    const std::string key = encode(HeartbeatKey{from, to});
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  };
  send(target_producer, flow_.source, flow_.target);
  send(source_producer, flow_.target, flow_.source);
}

SyncTasks::CheckpointPass SyncTasks::checkpoint_pass(rd_kafka_t* target_producer, bool sync_groups,
                                                     const PartitionMap* extra,
                                                     std::chrono::steady_clock::time_point deadline) {
  client::Admin& source = source_admin_;
  client::Admin& target = target_admin_;
  CheckpointPass pass;
  const std::string topic = flow_.policy.checkpoints_topic(flow_.source);
  if (!internal_topics_created_) {
    target.create_topic(topic, 1, flow_.replication_factor, {{"cleanup.policy", "compact"}});
    target.create_topic(std::string(kHeartbeatsTopic), 1, flow_.replication_factor, {{"cleanup.policy", "compact"}});
    source.create_topic(std::string(kHeartbeatsTopic), 1, flow_.replication_factor, {{"cleanup.policy", "compact"}});
    internal_topics_created_ = true;
  }
  // A producer that has not seen the checkpoints topic yet (the control API's own, at a
  // failover's final checkpoint) would hold its first record up to 1 s before asking for the
  // leader. One Metadata round trip now.
  client::refresh_topic_metadata(target_producer, topic, std::chrono::seconds(5));
  const auto filter = flow_.group_filter();
  std::map<std::string, std::string> target_states;
  if (sync_groups)
    for (const auto& g : target.list_groups()) target_states[g.group_id] = g.state;
  for (const auto& g : source.list_groups()) {
    if (!filter.should_replicate(g.group_id) || g.group_id.starts_with("ferry-mirror.")) continue;
    if (std::chrono::steady_clock::now() > deadline) {
      pass.timed_out = true;
      break;
    }
    const auto started = std::chrono::steady_clock::now();
    std::vector<client::GroupOffset> translated;
    CheckpointGroupStatus group{g.group_id, false, std::nullopt, {}};
    // The partition's state: live or kept (the flow's partitions, under their lock), else rebuilt
    // (`extra`, owned by this call).
    auto find = [&](const client::GroupOffset& o) -> PartitionState* {
      if (auto it = partitions_.find({o.topic, o.partition}); it != partitions_.end()) return it->second.get();
      if (extra)
        if (auto it = extra->find({o.topic, o.partition}); it != extra->end()) return it->second.get();
      return nullptr;
    };
    // The remote partitions' log end offsets, one batched ListOffsets for the whole group.
    const auto offsets = source.group_offsets(g.group_id);
    std::vector<std::string> remotes(offsets.size());
    std::vector<client::TopicPartitionKey> ends_wanted;
    {
      std::lock_guard lk(partitions_mu_);
      for (size_t i = 0; i < offsets.size(); ++i)
        if (PartitionState* st = find(offsets[i])) {
          remotes[i] = st->remote_topic;
          ends_wanted.emplace_back(st->remote_topic, offsets[i].partition);
        }
    }
    const auto ends = target.watermarks(ends_wanted);
    for (size_t i = 0; i < offsets.size(); ++i) {
      const auto& o = offsets[i];
      const std::string& remote = remotes[i];
      if (remote.empty()) continue;  // another process owns it, or not replicated
      const auto& end = ends.at({remote, o.partition});
      if (end.err != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw client::KafkaError(end.err, fmt::format("ListOffsets {}-{} on {}: {}", remote, o.partition, flow_.target,
                                                      rd_kafka_err2str(end.err)));
      const int64_t target_next = end.high;
      std::optional<int64_t> down, below_known;
      {
        std::lock_guard lk(partitions_mu_);
        PartitionState* st = find(o);
        if (!st) continue;
        // With records acknowledged but not yet recorded, the log end offset is ahead of what the
        // mapping knows; the mapping's own next offset is then the right "next".
        const auto last = st->mapping.last_recorded();
        const int64_t next = st->in_flight > 0 && last ? last->downstream_offset + 1 : target_next;
        down = st->mapping.translate(o.offset, next);
        if (auto first = st->mapping.first_known_upstream(); !down && first && o.offset < *first) {
          // Below the mapping's first record: that record is the answer only when it is the flow's
          // first replicated record and nothing readable on the source precedes it (and no run
          // was dropped from the mapping's front since).
          if (st->copied_from_start && st->mapping.runs_dropped() == 0)
            down = st->mapping.translate(*first, next);
          else
            below_known = *first;
        }
      }
      if (below_known) warn_untranslatable(flow_.name(), g.group_id, o.topic, o.partition, o.offset, *below_known);
      if (!down) continue;  // older than what the mapping knows, or not replicated yet
      const std::string key = encode(CheckpointKey{g.group_id, remote, o.partition});
      const std::string value = encode(CheckpointValue{o.offset, *down, o.metadata});
      rd_kafka_producev(target_producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      ++checkpoints_;
      ++pass.emitted;
      translated.push_back({remote, o.partition, *down, o.metadata});
      group.offsets.push_back({remote, o.partition, o.offset, *down});
    }
    metrics_
        .gauge("kafka_connect_mirror_mirrorcheckpointconnector_checkpoint_latency_ms",
               "Time to read, translate and emit one group's checkpoints, ms.",
               {{"source", flow_.source}, {"target", flow_.target}, {"group", g.group_id}})
        .set(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    auto report = [&](bool synced, const char* reason) {
      group.synced = synced;
      if (reason) group.reason = reason;
      pass.groups.push_back(group);
    };
    if (!sync_groups) {
      report(false, flow_.sync_group_offsets_enabled ? "not a group sync pass" : "sync.group.offsets.enabled is false");
      continue;
    }
    if (translated.empty()) {
      report(false, "nothing translated");
      continue;
    }
    // Group offset sync: only into a group nobody consumes with on the target (Empty or absent),
    // and never backwards (MM2's rules).
    auto state = target_states.find(g.group_id);
    if (state != target_states.end() && state->second != "Empty") {
      report(false, "active group");
      continue;
    }
    std::map<std::pair<std::string, int32_t>, int64_t> current;
    if (state != target_states.end())
      for (const auto& o : target.group_offsets(g.group_id)) current[{o.topic, o.partition}] = o.offset;
    std::vector<client::GroupOffset> forward;
    for (const auto& t : translated) {
      auto it = current.find({t.topic, t.partition});
      if (it == current.end() || it->second < t.offset) forward.push_back(t);
    }
    if (forward.empty()) {
      report(true, nullptr);  // the target group is already there or further
      continue;
    }
    try {
      target.alter_group_offsets(g.group_id, forward);
      group_offsets_synced_ += static_cast<int64_t>(forward.size());
      report(true, nullptr);
    } catch (const client::KafkaError& e) {
      // The group became active meanwhile: it owns its offsets now.
      spdlog::debug("flow {}: group {} offsets not synced: {}", flow_.name(), g.group_id, e.what());
      report(false, "active group");
    }
  }
  rd_kafka_flush(target_producer, 10'000);
  if (rd_kafka_outq_len(target_producer) > 0)
    throw client::KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT,
                             fmt::format("cluster {}: checkpoints not acknowledged within 10 s", flow_.target));
  if (!pass.timed_out) last_checkpoint_ms_ = wall_clock_ms();
  return pass;
}

}  // namespace ferry::mirror
