// A region's partition leadership as kept in etcd, and the controller's decisions over it, as pure
// functions (no I/O): replica assignment (rack-aware), leader election from the ISR, and the
// reconciliation a controller runs whenever brokers, topics or partition states change. The rules
// are Kafka's ZooKeeper-era controller (../shared/REPLICATION-SEMANTICS.md §4; Kafka
// PartitionStateMachine.scala, Election.scala, AdminUtils.assignReplicasToBrokers).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/metadata/metadata_store.h"

namespace ferry::broker::replication {

/// One partition's leadership, the value of `<prefix>/partitions/<topic>/<index>` (JSON
/// {"leader": int, "leader_epoch": int, "isr": [int], "controller_epoch": int}). The replicas
/// themselves are the topic's assignment (TopicMetadata::assignment).
struct PartitionState {
  int32_t leader = -1;        ///< broker id of the leader; -1 = none (offline partition)
  int32_t leader_epoch = 0;   ///< KIP-101 leader epoch: +1 on every controller-made leader or ISR change
  std::vector<int32_t> isr;   ///< in-sync replicas, in assignment order
  int64_t controller_epoch = 0;  ///< epoch of the controller that last wrote leader/ISR (informational)
  // Not in the JSON; filled from etcd's KeyValue when read:
  int64_t partition_epoch = 0;  ///< the key's etcd version: +1 on every write (Kafka's partition epoch, KIP-841)
  int64_t mod_revision = 0;     ///< the key's mod_revision: the compare-and-set token of the next write
  bool operator==(const PartitionState&) const = default;
};

/// The JSON of a state (the four fields above), and back. parse_partition_state returns nullopt and
/// sets `error` for anything else: not JSON, a missing or mistyped field, a negative epoch, a leader
/// below -1, a negative or repeated ISR id.
std::string encode_partition_state(const PartitionState& s);
std::optional<PartitionState> parse_partition_state(const std::string& text, std::string* error = nullptr);

/// A registered broker as the controller sees it.
struct BrokerNode {
  int32_t id = 0;
  std::string rack;  ///< "" = no broker.rack
  bool operator==(const BrokerNode&) const = default;
};

/// Replica lists for partitions [first_partition, first_partition + count) of a topic, as Kafka's
/// AdminUtils.assignReplicasToBrokers: without racks (every broker's rack empty) the round robin with
/// a start index and a replica shift; when every broker has a rack, the rack-aware variant (brokers
/// interleaved by rack, a partition's replicas on distinct racks while racks remain, then on distinct
/// brokers). A mix of brokers with and without racks is refused like Kafka's
/// AdminOperationException. `start_index` and `replica_shift` are Kafka's random values (tests fix
/// them; the broker draws them), taken modulo the broker count. Brokers are used in id order.
/// As in Kafka, the replica shift grows by 1 each time a partition id in this call is a positive
/// multiple of the broker count; it is not pre-advanced for partitions below `first_partition`, so
/// a CreatePartitions call continues the creation's leader round robin (same `start_index`) but
/// its follower lists match the creation's only while first_partition <= the broker count.
/// Result: `count` lists of `replication_factor` distinct broker ids; the first is the preferred
/// leader. Throws std::invalid_argument with the reason when replication_factor < 1, exceeds the
/// broker count (Kafka's INVALID_REPLICATION_FACTOR), racks are mixed, a broker id is listed twice,
/// or first_partition or count is negative.
std::vector<std::vector<int32_t>> assign_replicas(std::vector<BrokerNode> brokers, int32_t first_partition,
                                                  int32_t count, int16_t replication_factor, int32_t start_index,
                                                  int32_t replica_shift);

/// One write the controller wants: the new state of a partition, to be written only if the key's
/// mod_revision still equals `expected_mod_revision` (0 = the key must not exist).
struct PartitionWrite {
  std::string topic;
  int32_t partition = 0;
  PartitionState state;
  int64_t expected_mod_revision = 0;
  bool operator==(const PartitionWrite&) const = default;
};

/// What the controller must change so that every partition of `topics` has a live leader where the
/// rules allow one, given the current `states` (by (topic, partition); absent = never created) and
/// the `live` broker ids. For each partition of each topic, with replicas R = assignment[p]:
/// - no state: if some replica is live, create {leader = first live in R, isr = live members of R in
///   R's order, leader_epoch 0}; else nothing yet (Kafka's NewPartition waits for a live replica).
/// - a state whose leader is live: the ISR loses replicas that are not live (leader_epoch + 1, the
///   leader unchanged); nothing if all are live.
/// - a state whose leader is not live (or -1): leader = first in R that is live and in the ISR; ISR
///   := ISR ∩ live (R's order); leader_epoch + 1. If no ISR member is live: with `unclean(topic)`
///   (unclean.leader.election.enable) the first live replica of R, ISR = [it]; else leader -1 and the
///   ISR unchanged (Kafka keeps the last ISR member when it dies, so a clean election can wait for
///   it), written only if the leader was not already -1.
/// - leader_epoch rises by 1 exactly when a write changes leader or ISR; nothing else is written.
/// Topics with an empty assignment (single-node metadata) are skipped, as are partitions without an
/// assignment entry (assignment shorter than `partitions`, or an empty replica list).
/// A replica id in a state's ISR that is not in R is dropped, also from an offline partition's kept
/// ISR (so that ISR can end up empty). A leader that is not in R or not in its own ISR counts as not
/// live: a new one is elected. Every write carries `controller_epoch`, and `expected_mod_revision` =
/// the state's mod_revision (0 for creations); its state's partition_epoch and mod_revision are the
/// current ones (0 for creations), for etcd to advance. `unclean` is asked at most once per topic and
/// only when a partition has no live ISR member; an empty or throwing `unclean` counts as false.
/// Writes come in topic, then partition order; states of partitions beyond a topic's partition count
/// or of unknown topics are ignored (deletion cleans them). Pure; never throws.
std::vector<PartitionWrite> reconcile(const std::map<std::string, TopicMetadata>& topics,
                                      const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
                                      const std::set<int32_t>& live,
                                      const std::function<bool(const std::string& topic)>& unclean,
                                      int64_t controller_epoch);

/// Preferred leader election (Kafka's PreferredReplicaPartitionLeaderElectionStrategy): the new state
/// if replica R[0] is live, in the ISR and not the leader — {leader = R[0], same ISR, leader_epoch +
/// 1, the other fields copied: the caller sets its controller_epoch}; else nullopt (also for an
/// empty R).
std::optional<PartitionState> preferred_leader_state(const std::vector<int32_t>& replicas, const PartitionState& s,
                                                     const std::set<int32_t>& live);

/// Kafka's auto leader rebalance (KafkaController.checkAndTriggerAutoLeaderRebalance): for each
/// broker B, its preferred partitions are those whose replica list starts with B (partitions with
/// a reassignment in progress are skipped); when more than `percentage` % of them are led by
/// another broker, each of those whose preferred_leader_state exists (B live and in the ISR) gets
/// that state, with `controller_epoch`, and expected_mod_revision = the state's mod_revision.
/// Writes come in topic, then partition order. Pure.
std::vector<PartitionWrite> rebalance_leaders(const std::map<std::string, TopicMetadata>& topics,
                                              const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
                                              const std::set<int32_t>& live, int64_t percentage,
                                              int64_t controller_epoch);

}  // namespace ferry::broker::replication
