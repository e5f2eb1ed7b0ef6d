// The parts of a Flow that answer to the outside: the control API (pause, resume, checkpoint;
// docs/mirror.md "Control API") and /status. Checkpoint passes themselves are SyncTasks'.
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

}  // namespace

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
  const auto routes = discovery_.routes();
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
  // Every read below is batched over all the partitions (flow_takeover.cc).
  std::vector<Takeover> parts;
  std::vector<client::TopicPartitionKey> replicated;
  for (size_t i = 0; i < queries.size(); ++i) {
    if (!tails[i]) continue;  // nothing of this partition replicated: nothing to translate to
    parts.push_back({std::make_unique<PartitionState>(keys[i].first, queries[i].topic, keys[i].second,
                                                      flow_.resync_every()),
                     tails[i], std::nullopt});
    parts.back().st->start_at(tails[i]->upstream_offset + 1);
    replicated.push_back(keys[i]);
  }
  anchor_mappings(parts, history, truncated, ctl_probe_.get(), false);
  const int64_t asked_ms = wall_clock_ms();
  const auto marks = source_admin_->watermarks(replicated);
  for (auto& t : parts) {
    const auto& w = *(t.source = marks.at({t.st->source_topic, t.st->partition}));
    if (w.err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw client::KafkaError(w.err, fmt::format("ListOffsets {}-{}: {}", t.st->source_topic, t.st->partition,
                                                  rd_kafka_err2str(w.err)));
    t.st->observe_source_end(w.high, asked_ms, false);
  }
  derive_copied_from_start(parts, ctl_probe_.get(), ctl_source_probe_.get());
  for (auto& t : parts) out.emplace(std::pair(t.st->source_topic, t.st->partition), std::move(t.st));
  return out;
}

std::vector<PartitionStatus> Flow::partition_statuses(bool in_flight_only) const {
  std::vector<PartitionStatus> parts;
  std::lock_guard lk(partitions_mu_);
  for (const auto& [_, p] : partitions_)
    if (!in_flight_only || p->in_flight > 0) parts.push_back(p->status(in_flight_only));
  return parts;
}

void Flow::request_pause() {
  std::lock_guard lk(drain_mu_);
  if (paused_) return;
  drained_ = false;
  paused_ = true;
  spdlog::info("flow {}: pausing", flow_.name());
  wake_.notify_all();
}

metrics::JsonReply Flow::pause(std::chrono::milliseconds timeout) {
  std::lock_guard ctl(control_mu_);
  request_pause();
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
  for (const auto& [name, r] : discovery_.routes())
    for (int32_t p = 0; p < r.partitions; ++p) keys.emplace_back(name, p);
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
        missing = ends_.read(source_admin_->handle(), keys, wall_clock_ms(), false, std::chrono::milliseconds(200)).second;
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
  std::unique_lock pass_lock(sync_.pass_mutex(), std::defer_lock);
  if (!pass_lock.try_lock_for(timeout))
    return reply(504, ErrorReply{fmt::format("flow {}: a checkpoint pass already running did not end within {} ms",
                                             flow_.name(), timeout.count()),
                                 std::vector<PartitionStatus>{}});
  make_control_clients();
  // Only once drained: before that the data thread may still be assigning partitions.
  PartitionMap rebuilt;
  if (paused_ && drained_) rebuilt = rebuild_mappings();
  auto pass = sync_.checkpoint_pass(ctl_producer_.get(), flow_.sync_group_offsets_enabled, &rebuilt, deadline);
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
  s.checkpoints_emitted = sync_.checkpoints_emitted();
  s.source_anomalies = anomalies_;
  s.group_offsets_synced = sync_.group_offsets_synced();
  s.last_checkpoint_ms = sync_.last_checkpoint_ms();
  HeartbeatStatus& hb = s.heartbeat.emplace();
  if (const int64_t ms = last_heartbeat_ms_; ms >= 0) {
    hb.last_replicated_ms = ms;
    hb.age_ms = wall_clock_ms() - ms;
  }
  for (const auto& [name, r] : discovery_.routes()) s.topics.push_back({name, r.remote_topic, r.partitions});
  auto errors = conditions_.view();
  s.last_error = std::move(errors.last_error);
  s.last_error_ms = errors.last_error_ms;
  // Conditions still present now, as opposed to last_error's history.
  s.healthy = errors.current.empty();
  s.current_errors = std::move(errors.current);
  s.source_reachable = !ends_.source_known_down();
  s.partitions = partition_statuses(false);
  return s;
}

}  // namespace ferry::mirror
