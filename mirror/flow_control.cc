// The parts of a Flow that answer to the outside: checkpoint passes (periodic and on demand), the
// control API (pause, resume, checkpoint; docs/mirror.md "Control API") and /status.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>

#include "common/clock.h"
#include "mirror/flow.h"
#include "mirror/flow_internal.h"
#include "mirror/mm2_formats.h"
#include "mirror/resume.h"
#include "mirror/status_types.h"

namespace ferry::mirror {
namespace {

template <class Body>
metrics::JsonReply reply(int status, const Body& body) {
  return {status, nlohmann::json(body).dump()};
}

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

Flow::CheckpointPass Flow::emit_checkpoints(client::Admin& source, client::Admin& target, rd_kafka_t* target_producer,
                                            bool sync_groups, const PartitionMap* extra,
                                            std::chrono::steady_clock::time_point deadline) {
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
    for (const auto& o : source.group_offsets(g.group_id)) {
      // The partition's state: live or kept (partitions_, under its lock), else rebuilt (`extra`,
      // owned by this call).
      auto find = [&]() -> PartitionState* {
        if (auto it = partitions_.find({o.topic, o.partition}); it != partitions_.end()) return it->second.get();
        if (extra)
          if (auto it = extra->find({o.topic, o.partition}); it != extra->end()) return it->second.get();
        return nullptr;
      };
      std::string remote;
      {
        std::lock_guard lk(partitions_mu_);
        PartitionState* st = find();
        if (!st) continue;  // another process owns it, or not replicated
        remote = st->remote_topic;
      }
      const int64_t target_next = target.watermarks(remote, o.partition).high;
      std::optional<int64_t> down, below_known;
      {
        std::lock_guard lk(partitions_mu_);
        PartitionState* st = find();
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

void Flow::make_control_clients() {
  // The control API's own producer and probes (the data and sync threads' are theirs alone);
  // Admin clients are the flow's shared ones.
  if (!ctl_producer_) {
    auto props = cluster_properties(target_, "ferry-mirror-control");
    props["acks"] = "all";
    ctl_producer_ = client::make_handle(RD_KAFKA_PRODUCER, client::make_conf(props));
  }
  if (!ctl_probe_) ctl_probe_ = make_probe(target_, data_group_id() + ".control");
  if (!ctl_source_probe_) ctl_source_probe_ = make_probe(source_, data_group_id() + ".control");
}

PartitionMap Flow::rebuild_mappings() {
  std::map<std::string, TopicRoute> routes;
  {
    std::lock_guard lk(routes_mu_);
    routes = routes_;
  }
  std::vector<TailQuery> queries;
  std::vector<std::pair<std::string, int32_t>> keys;
  {
    std::lock_guard lk(partitions_mu_);
    for (const auto& [name, r] : routes)
      for (int32_t p = 0; p < r.partitions; ++p)
        if (!partitions_.contains({name, p})) {
          queries.push_back({r.remote_topic, p});
          keys.emplace_back(name, p);
        }
  }
  PartitionMap out;
  if (queries.empty()) return out;
  const auto tails = find_replicated_tails(ctl_probe_.get(), *target_admin_, queries, flow_.source);
  bool truncated = false;
  const auto history = read_sync_history(*source_admin_, ctl_source_probe_.get(), {keys.begin(), keys.end()}, truncated);
  for (size_t i = 0; i < queries.size(); ++i) {
    if (!tails[i]) continue;  // nothing of this partition replicated: nothing to translate to
    auto st = std::make_unique<PartitionState>(keys[i].first, queries[i].topic, keys[i].second, flow_.resync_every());
    auto h = history.find(keys[i]);
    anchor_mapping(*st, *tails[i], h == history.end() ? std::vector<OffsetSync>{} : h->second, truncated,
                   ctl_probe_.get(), false);
    st->start_at(tails[i]->upstream_offset + 1);
    const int64_t asked_ms = wall_clock_ms();
    const auto w = source_admin_->watermarks(st->source_topic, st->partition);
    st->observe_source_end(w.high, asked_ms, false);
    try {
      st->copied_from_start =
          copied_from_source_start(*st, w.low, *target_admin_, ctl_probe_.get(), ctl_source_probe_.get());
    } catch (const std::exception& e) {
      // Offsets below the first copied record then get no checkpoint rather than a wrong one.
      spdlog::warn("flow {}: cannot tell whether {}-{} was copied from the source's start: {}", flow_.name(),
                   st->source_topic, st->partition, e.what());
    }
    out.emplace(keys[i], std::move(st));
  }
  return out;
}

std::vector<PartitionStatus> Flow::partition_statuses(bool in_flight_only) const {
  std::vector<PartitionStatus> parts;
  std::lock_guard lk(partitions_mu_);
  for (const auto& [_, p] : partitions_)
    if (!in_flight_only || p->in_flight > 0) parts.push_back(p->status(in_flight_only));
  return parts;
}

metrics::JsonReply Flow::pause(std::chrono::milliseconds timeout) {
  std::lock_guard ctl(control_mu_);
  if (!paused_) {
    {
      std::lock_guard lk(drain_mu_);
      drained_ = false;
      paused_ = true;
    }
    spdlog::info("flow {}: pausing", flow_.name());
    wake_.notify_all();
  }
  bool drained;
  {
    std::unique_lock lk(drain_mu_);
    drained = drain_cv_.wait_for(lk, timeout, [&] { return drained_.load() || !running_; });
  }
  if (!running_) return reply(500, ErrorReply{"the flow is stopping", std::nullopt});
  if (!drained) {
    return reply(504, ErrorReply{fmt::format("flow {}: records still unacknowledged by {} after {} ms; the flow stays "
                                             "paused and keeps draining",
                                             flow_.name(), flow_.target, timeout.count()),
                                 partition_statuses(true)});
  }
  auto answer = [&](bool reachable) {
    return reply(200, PauseReply{flow_.name(), "paused", reachable, partition_statuses(false)});
  };
  std::vector<client::TopicPartitionKey> keys;  // every partition the flow replicates or holds
  {
    std::lock_guard lk(routes_mu_);
    for (const auto& [name, r] : routes_)
      for (int32_t p = 0; p < r.partitions; ++p) keys.emplace_back(name, p);
  }
  if (source_known_down()) {
    // Unplanned failover: the source is gone; its last known end offsets, each with the time it
    // was read (source_end_offset_ms), are all there is.
    spdlog::warn("flow {}: paused; the source is unreachable, so lag uses its last known end offsets", flow_.name());
    return answer(false);
  }
  {
    std::lock_guard lk(partitions_mu_);
    for (const auto& [key, _] : partitions_)
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  bool reachable = false;
  try {
    // The source's end offsets now, so lag_records is the exact count of records not on the
    // target. Read in short slices up to kSourceEndsTimeout: a source that died a moment ago is
    // noticed by the ends thread's client within milliseconds (source_known_down), and the pause
    // then answers with the last view instead of waiting out the bound (issue 13, defect 7).
    make_control_clients();
    const auto deadline = std::chrono::steady_clock::now() + std::min(timeout, kSourceEndsTimeout);
    size_t missing = 0;
    for (;;) {
      try {
        missing = read_source_ends(source_admin_->handle(), keys, wall_clock_ms(), false, std::chrono::milliseconds(200)).second;
        break;
      } catch (const client::KafkaError& e) {
        if (e.err() != RD_KAFKA_RESP_ERR__TIMED_OUT || source_known_down() || std::chrono::steady_clock::now() >= deadline)
          throw;
      }
    }
    reachable = missing == 0;
    if (!reachable)
      spdlog::warn("flow {}: paused, but {} of {} source partition(s) gave no end offset", flow_.name(), missing,
                   keys.size());
    // The source answers, so the partitions without a state can be rebuilt. A pause that landed
    // between a revoke and the next assignment (a topic added to the flow, another process
    // joining) finds some: after the drain, what the target holds is exactly their position. A
    // partition another process owns gets the same lower bound; whoever reads several answers
    // takes the highest.
    auto rebuilt = rebuild_mappings();
    std::lock_guard lk(partitions_mu_);
    for (auto& [key, st] : rebuilt) partitions_.try_emplace(key, std::move(st));
  } catch (const std::exception& e) {
    spdlog::warn("flow {}: paused, but the source's end offsets or the positions of unassigned partitions could not "
                 "be read: {}",
                 flow_.name(), e.what());
  }
  return answer(reachable);
}

metrics::JsonReply Flow::resume() {
  std::lock_guard ctl(control_mu_);
  if (paused_.exchange(false)) {
    spdlog::info("flow {}: resuming", flow_.name());
    wake_.notify_all();
  }
  return reply(200, ResumeReply{flow_.name(), "running"});
}

metrics::JsonReply Flow::checkpoint(std::chrono::milliseconds timeout) {
  std::lock_guard ctl(control_mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock pass_lock(checkpoint_mu_, std::defer_lock);
  if (!pass_lock.try_lock_for(timeout))
    return reply(504, ErrorReply{fmt::format("flow {}: a checkpoint pass already running did not end within {} ms",
                                             flow_.name(), timeout.count()),
                                 std::vector<PartitionStatus>{}});
  make_control_clients();
  // Only once drained: before that the data thread may still be assigning partitions.
  PartitionMap rebuilt;
  if (paused_ && drained_) rebuilt = rebuild_mappings();
  auto pass = emit_checkpoints(*source_admin_, *target_admin_, ctl_producer_.get(), flow_.sync_group_offsets_enabled,
                               &rebuilt, deadline);
  if (pass.timed_out)
    return reply(504, ErrorReply{fmt::format("flow {}: the checkpoint pass did not finish within {} ms", flow_.name(),
                                             timeout.count()),
                                 std::vector<PartitionStatus>{}});
  return reply(200, CheckpointReply{flow_.name(), pass.emitted, std::move(pass.groups)});
}

FlowStatus Flow::status() const {
  FlowStatus s;
  s.flow = flow_.name();
  s.source = flow_.source;
  s.target = flow_.target;
  s.state = paused_ ? "paused" : "running";
  s.records_replicated = records_;
  s.records_skipped_as_loops = skipped_loops_;
  s.checkpoints_emitted = checkpoints_;
  s.source_anomalies = anomalies_;
  s.group_offsets_synced = group_offsets_synced_;
  if (const int64_t ms = last_checkpoint_ms_; ms > 0) s.last_checkpoint_ms = ms;
  HeartbeatStatus& hb = s.heartbeat.emplace();
  if (const int64_t ms = last_heartbeat_ms_; ms >= 0) {
    hb.last_replicated_ms = ms;
    hb.age_ms = wall_clock_ms() - ms;
  }
  {
    std::lock_guard lk(routes_mu_);
    for (const auto& [name, r] : routes_) s.topics.push_back({name, r.remote_topic, r.partitions});
    if (!last_error_.empty()) s.last_error = last_error_;
    s.last_error_ms = last_error_ms_;
    // Conditions still present now, as opposed to last_error's history.
    auto& current = s.current_errors.emplace();
    for (const auto& [_, what] : current_errors_) current.push_back(what);
    s.healthy = current_errors_.empty();
    s.source_reachable = source_down_ms_ == 0 && current_errors_.count("source") == 0;
  }
  s.partitions = partition_statuses(false);
  return s;
}

}  // namespace ferry::mirror
