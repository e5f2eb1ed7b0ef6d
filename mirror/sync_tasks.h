// The sync tasks of one flow (its "sync" thread; docs/mirror.md, "Threads of a flow"): MM2
// heartbeats both ways, and checkpoint passes that translate the source groups' committed
// offsets with the flow's partition states, write them to the target's checkpoints topic and,
// with group offset sync, apply them to idle target groups. Passes run periodically here or on
// demand through the control API (Flow::checkpoint), one at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "client/kafka.h"
#include "common/metrics.h"
#include "mirror/config.h"
#include "mirror/flow_conditions.h"
#include "mirror/partition_state.h"
#include "mirror/status_types.h"

namespace ferry::mirror {

/// Heartbeats, checkpoints and group offset sync of one flow. All references must outlive it.
class SyncTasks {
 public:
  /// `partitions` (guarded by `partitions_mu`) are the flow's partition states the passes
  /// translate with; failures of the sync thread are the "sync" condition in `conditions`.
  SyncTasks(const FlowConfig& flow, const ClusterConfig& source, const ClusterConfig& target,
            client::Admin& source_admin, client::Admin& target_admin, metrics::Registry& metrics,
            FlowConditions& conditions, const PartitionMap& partitions, std::mutex& partitions_mu);

  /// The sync thread, until `running` is false: every emit.heartbeats.interval.seconds a
  /// heartbeat into each cluster, every emit.checkpoints.interval.seconds a checkpoint pass (with
  /// group offset sync every sync.group.offsets.interval.seconds), none of them while `paused`
  /// (a paused flow's heartbeats would tell ferry-dr the path works). Waits on `wake`.
  void run(const std::atomic<bool>& running, const std::atomic<bool>& paused, std::mutex& wake_mu,
           std::condition_variable& wake);

  /// What one checkpoint pass did: the control API's answer.
  struct CheckpointPass {
    int64_t emitted = 0;
    std::vector<CheckpointGroupStatus> groups;
    bool timed_out = false;
  };
  /// One pass over the source groups the flow's group filter accepts, through `target_producer`
  /// (acks=all; flushed within 10 s, else client::KafkaError). Translates with the flow's
  /// partition states and then those of `extra` (rebuilt mappings, may be null); a committed
  /// offset no mapping proves gets no checkpoint. Stops between groups once `deadline` has passed
  /// (timed_out). Group offset sync (with `sync_groups`) only into a group that is Empty or absent
  /// on the target, and never backwards (MM2's rules). The caller holds pass_mutex().
  CheckpointPass checkpoint_pass(rd_kafka_t* target_producer, bool sync_groups, const PartitionMap* extra,
                                 std::chrono::steady_clock::time_point deadline);
  /// One checkpoint pass at a time: the sync thread's or the control API's.
  std::timed_mutex& pass_mutex() { return pass_mu_; }

  int64_t checkpoints_emitted() const { return checkpoints_; }
  int64_t group_offsets_synced() const { return group_offsets_synced_; }
  /// Wall ms when the last pass finished in time; nullopt: none yet.
  std::optional<int64_t> last_checkpoint_ms() const;

 private:
  void emit_heartbeats(rd_kafka_t* source_producer, rd_kafka_t* target_producer);

  const FlowConfig& flow_;
  const ClusterConfig& source_;
  const ClusterConfig& target_;
  client::Admin& source_admin_;
  client::Admin& target_admin_;
  metrics::Registry& metrics_;
  FlowConditions& conditions_;
  const PartitionMap& partitions_;
  std::mutex& partitions_mu_;
  std::timed_mutex pass_mu_;
  bool internal_topics_created_ = false;  // under pass_mu_
  std::atomic<int64_t> checkpoints_{0};
  std::atomic<int64_t> group_offsets_synced_{0};
  std::atomic<int64_t> last_checkpoint_ms_{0};  // 0: none yet
};

}  // namespace ferry::mirror
