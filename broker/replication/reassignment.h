// Partition reassignment (KIP-455) as pure functions over a topic's metadata and its partitions'
// leadership: what a request changes, and when and how the controller completes a move. The rules
// are Kafka's (../shared/REPLICATION-SEMANTICS.md §6; KafkaController.onPartitionReassignment,
// ReplicaAssignment.scala). The flow, with ORS the original replicas and TRS the target:
// 1. The request stores RS = TRS then ORS − TRS as the partition's replicas, with adding = TRS − ORS
//    and removing = ORS − TRS (TopicMetadata::reassignments); a cancel stores RS = ORS. Every
//    broker in RS hosts the partition; the adding ones fetch from the leader and join the ISR the
//    usual way.
// 2. Once TRS ⊆ ISR, the controller writes, in one etcd transaction: replicas = TRS, the move
//    cleared, and the partition's state with ISR ∩ TRS and leader epoch + 1 — the leader kept if it
//    is in TRS and live, else the first live ISR member of TRS. The removing brokers then drop
//    their replica (StopReplica with delete).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/metadata/metadata_store.h"
#include "broker/protocol/errors.h"
#include "broker/replication/partition_state.h"

namespace ferry::broker::replication {

/// Why a reassignment request for one partition was refused (AlterPartitionReassignments' per-partition error).
struct ReassignmentError {
  protocol::ErrorCode code = protocol::ErrorCode::NONE;
  std::string message;
};

/// The target replicas of `t`'s partition `p`: its replicas without the removing ones (all of them
/// when no move runs). Empty when `p` has no assignment entry.
std::vector<int32_t> target_replicas(const TopicMetadata& t, int32_t p);

/// The replicas `p` had before the move in progress: its replicas without the adding ones.
std::vector<int32_t> original_replicas(const TopicMetadata& t, int32_t p);

/// Applies one AlterPartitionReassignments entry to `t`: `target` the new replica list (its first
/// the preferred leader), or nullopt to cancel. The original replicas (ORS) are those before any
/// move in progress; the partition's replicas become target then ORS − target, with adding =
/// target − ORS and removing = ORS − target. So a new target replaces a move in progress, and
/// the adding replicas it drops leave at once (Kafka stops them; one that led is replaced by
/// reconcile's election, as for any leader outside the replicas); a cancel restores ORS at once.
/// A target equal to the current replicas with no move in progress changes nothing; one that only
/// reorders them takes effect at once. Refusals, with `t` unchanged: UNKNOWN_TOPIC_OR_PARTITION
/// for a partition outside the topic; INVALID_REPLICA_ASSIGNMENT for an empty target, a negative
/// or repeated id, or a replica outside ORS whose broker is not in `live` (KIP-455);
/// NO_REASSIGNMENT_IN_PROGRESS to cancel when no move runs. Pure.
std::optional<ReassignmentError> request_reassignment(TopicMetadata& t, int32_t p,
                                                      const std::optional<std::vector<int32_t>>& target,
                                                      const std::set<int32_t>& live);

/// The controller's completion of `t`'s finished moves, to be written with EtcdMetadataStore::
/// put_topic_if (the topic carries the copy's mod_revision, so a concurrent request makes it fail).
struct ReassignmentCompletion {
  TopicMetadata topic;                ///< replicas = target and the move cleared for `completed`
  std::vector<PartitionWrite> states;  ///< the new leadership of each completed partition
  std::vector<int32_t> completed;      ///< partition indexes, ascending
};

/// The moves of `t` that can complete now: a partition whose target replicas are all in its ISR
/// and one of which is live and in the ISR to lead. For each: ISR := ISR ∩ target (in target
/// order), leader kept if it is in the target and live, else the first target replica that is live
/// and in the ISR, leader_epoch + 1 (fencing the leaving replicas, Kafka's
/// onPartitionReassignment), `controller_epoch` on the write. `replication_factor` becomes the
/// longest target list of the topic. nullopt when no move can complete (or none runs); at most
/// kMaxCompletions partitions per call (one etcd transaction). Pure.
std::optional<ReassignmentCompletion> complete_reassignments(
    const TopicMetadata& t, const std::map<std::pair<std::string, int32_t>, PartitionState>& states,
    const std::set<int32_t>& live, int64_t controller_epoch);

/// Partitions completed per transaction (a topic write and one state write each, within etcd's
/// 128 operations).
inline constexpr size_t kMaxCompletions = 60;

}  // namespace ferry::broker::replication
