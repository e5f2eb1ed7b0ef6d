// Durable consumer-group state in the compacted internal topic `__consumer_offsets`, as Kafka's
// GroupMetadataManager keeps it: committed offsets (OffsetCommitKey/Value records) and group
// metadata (GroupMetadataKey/Value records) in Kafka's own formats (docs/consumer-offsets.md), one
// partition per group, reloaded at startup. It is the coordinator's GroupStore and the owner of
// committed offsets (OffsetCommit, OffsetFetch, OffsetDelete, offsets.retention.minutes).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/config/broker_config.h"
#include "broker/groups/offsets_format.h"
#include "broker/groups/store.h"
#include "broker/protocol/errors.h"

namespace ferry::broker {

class Partition;
class ReplicaManager;

/// The `__consumer_offsets` partition holding `group_id`, as Kafka computes it:
/// Utils.abs(groupId.hashCode()) % partitions, where hashCode is Java's String.hashCode over the
/// id's UTF-16 code units (the id arrives as UTF-8; invalid UTF-8 bytes count as U+FFFD, as
/// Java's decoder would replace them). `partitions` must be >= 1.
int32_t offsets_partition_for(std::string_view group_id, int32_t partitions);

/// One committed offset of a group.
struct TopicPartitionOffset {
  std::string topic;
  int32_t partition = 0;
  groups::OffsetValue value;
};

/// Where a write landed, so the caller can wait for it to be fsynced (acks=all semantics) before
/// answering. `partition` is null when nothing was written.
struct GroupWrite {
  protocol::ErrorCode error = protocol::ErrorCode::NONE;
  std::shared_ptr<Partition> partition;
  /// The log end offset after the write: durable once the partition's durable offset reaches it.
  int64_t end_offset = 0;
};

/// What load() found, for the startup log line and tests.
struct GroupLoadReport {
  std::vector<groups::GroupSnapshot> groups;  ///< to pass to GroupCoordinator::restore()
  size_t offsets = 0;                         ///< committed offsets live after loading
  size_t records = 0;                         ///< records read
  size_t skipped = 0;                         ///< records of unknown kind or undecodable (logged)
};

/// Thread-safe. Writes go to the group's partition in call order (one mutex), and the in-memory
/// view is updated in the same order, so OffsetFetch sees a commit as soon as it is in the log.
class GroupMetadataManager final : public groups::GroupStore {
 public:
  /// Keys read: offsets.topic.num.partitions, offsets.topic.segment.bytes,
  /// offsets.retention.minutes, offset.metadata.max.bytes.
  GroupMetadataManager(ReplicaManager& replicas, const BrokerConfig& config);

  /// Creates `__consumer_offsets` (compacted) when absent, then reads every partition from its log
  /// start to its end, keeping the latest record per key and honouring tombstones. Groups that
  /// only have committed offsets come back as Empty groups without a protocol type, as in Kafka.
  /// Call once, before serving. Throws std::runtime_error when the topic cannot be created or read.
  GroupLoadReport load(int64_t now_ms);

  /// A region on etcd (issue 17 part 4): a group's coordinator is the leader of the group's
  /// partition of __consumer_offsets. When this broker becomes that leader it reads the partition
  /// (Kafka's GroupMetadataManager.loadGroupsForPartition) and coordinates its groups from then on:
  /// returns them for GroupCoordinator::restore. Throws std::runtime_error when it cannot read.
  GroupLoadReport load_partition(int32_t partition, int64_t now_ms);
  /// This broker stopped leading `partition`: its groups' offsets are forgotten here (another
  /// broker loads them) and their ids returned for GroupCoordinator::unload_groups.
  std::vector<std::string> unload_partition(int32_t partition);
  /// Whether this broker coordinates `group_id` now: always once load() ran on a one-broker
  /// region; on a region on etcd, while it leads the group's loaded partition.
  bool coordinates(const std::string& group_id) const;
  /// The group's partition of __consumer_offsets (Kafka's abs(hashCode) % partitions), -1 when
  /// the topic does not exist yet.
  int32_t partition_of(const std::string& group_id) const;

  /// GroupStore: writes the group's GroupMetadataValue record. A failed append is logged and
  /// counted (the interface cannot fail); the group keeps working from memory.
  void persist(const groups::GroupSnapshot& snapshot) override;
  /// GroupStore: UNKNOWN_SERVER_ERROR when the group's record would exceed the internal topic's
  /// max.message.bytes (Kafka maps MESSAGE_TOO_LARGE on a group write to it), else NONE.
  protocol::ErrorCode check(const groups::GroupSnapshot& snapshot) const override;
  /// GroupStore: writes tombstones for the group's metadata and every offset it committed.
  void remove(const std::string& group_id) override;

  /// Appends the commits of one OffsetCommit request as one write, then makes them visible.
  /// Errors: KAFKA_STORAGE_ERROR (and the rest of Partition::append's) when the append fails;
  /// COORDINATOR_NOT_AVAILABLE before load().
  GroupWrite commit(const std::string& group_id, const std::vector<TopicPartitionOffset>& offsets);

  /// The group's committed offsets, by (topic, partition).
  std::map<std::pair<std::string, int32_t>, groups::OffsetValue> offsets(const std::string& group_id) const;

  /// OffsetDelete: tombstones for the given partitions that have a committed offset (others are
  /// ignored, as Kafka does). Errors as commit().
  GroupWrite delete_offsets(const std::string& group_id, const std::vector<std::pair<std::string, int32_t>>& partitions);

  /// Offset expiry (KIP-211, offsets.retention.minutes). Only groups without members lose offsets
  /// (`empty_since_ms` gives when a group became Empty, nullopt while it has members; Kafka also
  /// expires an active consumer group's offsets for topics it no longer subscribes to, which Ferry
  /// does not). Then an offset with an explicit expire timestamp (OffsetCommit v2-v4
  /// retention_time_ms) expires at it; otherwise a group that has had a protocol type loses every
  /// offset once Empty for the retention period, and a standalone group (no protocol type) loses
  /// each offset the retention period after its commit. Returns the groups left without offsets.
  std::vector<std::string> expire_offsets(int64_t now_ms,
                                          const std::function<std::optional<int64_t>(const std::string&)>& empty_since_ms);

  /// Whether the group has any committed offset.
  bool has_offsets(const std::string& group_id) const;

  /// offset.metadata.max.bytes.
  size_t max_metadata_bytes() const { return max_metadata_bytes_; }
  /// How many writes failed since start (also the metric ferry_group_metadata_write_errors_total).
  size_t write_errors() const;

 private:
  using PartitionKey = std::pair<std::string, int32_t>;
  struct GroupOffsets {
    std::map<PartitionKey, groups::OffsetValue> offsets;
    /// The protocol type of the group's last metadata record; "" for standalone groups.
    std::string protocol_type;
  };

  std::shared_ptr<Partition> partition_for(const std::string& group_id) const;
  /// Reads one partition into groups_ and `snapshots`. Caller holds mu_.
  void read_partition_locked(Partition& part, int64_t now_ms, std::map<std::string, groups::GroupSnapshot>& snapshots,
                             GroupLoadReport& report);
  /// Standalone groups (offsets only) of `snapshots`' kind, the report's totals. Caller holds mu_.
  void finish_report_locked(int64_t now_ms, std::map<std::string, groups::GroupSnapshot>& snapshots,
                            GroupLoadReport& report, const std::function<bool(const std::string&)>& include);
  /// Appends `records` (key, value-or-tombstone) to the group's partition. Caller holds mu_.
  GroupWrite append_locked(const std::string& group_id, const std::vector<std::pair<groups::Bytes, std::optional<groups::Bytes>>>& records);
  void apply_loaded(const uint8_t* key, int32_t key_len, const uint8_t* value, int32_t value_len, int64_t now_ms,
                    std::map<std::string, groups::GroupSnapshot>& snapshots, size_t& skipped);

  ReplicaManager& replicas_;
  const int32_t num_partitions_;
  const int64_t segment_bytes_;
  const int64_t retention_ms_;
  const size_t max_metadata_bytes_;
  mutable std::mutex mu_;
  bool loaded_ = false;
  std::set<int32_t> owned_;  // region on etcd: partitions led and loaded here
  std::map<std::string, GroupOffsets> groups_;
  size_t write_errors_ = 0;
};

}  // namespace ferry::broker
