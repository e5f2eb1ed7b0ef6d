// MirrorMaker 2's internal-topic records (heartbeats, checkpoints, offset syncs), byte for byte as
// Apache Kafka's connect/mirror-client Heartbeat, Checkpoint and OffsetSync classes write them, so
// MM2 tooling (MirrorClient, RemoteClusterUtils) reads what Ferry writes and vice versa (KIP-382).
// Field types are Kafka protocol types: STRING = INT16 byte length (>= 0) + UTF-8 bytes, integers
// big-endian. Strings are carried as bytes; they are not checked for valid UTF-8.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ferry::mirror {

/// A record from an MM2 internal topic that cannot be decoded: truncated, trailing bytes, a
/// negative string length, or an unknown version. what() names the record kind and the problem.
struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// MM2's heartbeats topic, "heartbeats" (ReplicationPolicy.heartbeatsTopic()). MM2 writes it on
/// the target cluster of every pair; a flow replicates the source's copy downstream (renamed by
/// the replication policy, e.g. "east.heartbeats"), which proves end-to-end replication.
inline constexpr std::string_view kHeartbeatsTopic = "heartbeats";

/// MM2's checkpoints topic on the target cluster for groups replicated from `source_alias`:
/// "<source><sep>checkpoints<sep>internal" (DefaultReplicationPolicy.checkpointsTopic; the
/// separator applies to internal topics by default since KIP-690, so "." gives
/// "east.checkpoints.internal").
std::string checkpoints_topic(std::string_view source_alias, std::string_view separator = ".");

/// MM2's offset-syncs topic, kept on the source cluster, for the flow towards `target_alias`:
/// "mm2-offset-syncs<sep><target><sep>internal" (DefaultReplicationPolicy.offsetSyncsTopic,
/// KIP-690), e.g. "mm2-offset-syncs.west.internal". Syncs go to partition 0.
std::string offset_syncs_topic(std::string_view target_alias, std::string_view separator = ".");

/// Key of a heartbeats record: {sourceClusterAlias: STRING, targetClusterAlias: STRING}.
struct HeartbeatKey {
  std::string source_cluster_alias;
  std::string target_cluster_alias;
  friend bool operator==(const HeartbeatKey&, const HeartbeatKey&) = default;
};

/// Value of a heartbeats record: version INT16 = 0, then {timestamp: INT64}, milliseconds since the
/// Unix epoch when the heartbeat was emitted.
struct HeartbeatValue {
  int64_t timestamp_ms = 0;
  friend bool operator==(const HeartbeatValue&, const HeartbeatValue&) = default;
};

/// Key of a checkpoints record: {group: STRING, topic: STRING, partition: INT32}. `topic` is the
/// downstream (remote) topic name, as MirrorCheckpointTask renames it.
struct CheckpointKey {
  std::string group;
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const CheckpointKey&, const CheckpointKey&) = default;
};

/// Value of a checkpoints record: version INT16 = 0, then {upstreamOffset: INT64, offset: INT64,
/// metadata: STRING}: the group's committed offset on the source, its translation on the target,
/// and the commit metadata carried over.
struct CheckpointValue {
  int64_t upstream_offset = 0;
  int64_t downstream_offset = 0;
  std::string metadata;
  friend bool operator==(const CheckpointValue&, const CheckpointValue&) = default;
};

/// Key of an offset-syncs record: {topic: STRING, partition: INT32}, the upstream (source) partition.
struct OffsetSyncKey {
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const OffsetSyncKey&, const OffsetSyncKey&) = default;
};

/// Value of an offset-syncs record: {upstreamOffset: INT64, offset: INT64}, no version prefix.
/// The record at `upstream_offset` in the source partition was written at `downstream_offset` in
/// the target partition (see offset_translation.h for how Ferry chooses which pairs to write).
struct OffsetSync {
  int64_t upstream_offset = 0;
  int64_t downstream_offset = 0;
  friend bool operator==(const OffsetSync&, const OffsetSync&) = default;
};

/// Encodes one record key or value in MM2's layout. Throws std::invalid_argument when a string is
/// longer than 32767 bytes (the INT16 length prefix cannot express it).
std::string encode(const HeartbeatKey& key);
std::string encode(const HeartbeatValue& value);
std::string encode(const CheckpointKey& key);
std::string encode(const CheckpointValue& value);
std::string encode(const OffsetSyncKey& key);
std::string encode(const OffsetSync& value);

/// Decodes one record key or value. Throws FormatError on truncation, trailing bytes, a negative
/// string length or (heartbeat and checkpoint values) a version other than 0.
HeartbeatKey decode_heartbeat_key(std::string_view bytes);
HeartbeatValue decode_heartbeat_value(std::string_view bytes);
CheckpointKey decode_checkpoint_key(std::string_view bytes);
CheckpointValue decode_checkpoint_value(std::string_view bytes);
OffsetSyncKey decode_offset_sync_key(std::string_view bytes);
OffsetSync decode_offset_sync_value(std::string_view bytes);

}  // namespace ferry::mirror
