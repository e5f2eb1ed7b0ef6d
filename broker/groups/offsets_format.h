// The record format of Kafka's compacted `__consumer_offsets` topic, as a pure codec: committed
// offsets (OffsetCommitKey / OffsetCommitValue) and group metadata (GroupMetadataKey /
// GroupMetadataValue). Ferry writes the bytes Kafka writes so tools that read the topic itself
// (kafka-console-consumer with the offsets formatter) understand a Ferry-written topic, and Ferry
// can load a topic copied from a Kafka cluster.
//
// The layouts are those of Apache Kafka's group-coordinator message definitions
// (OffsetCommitKey.json, OffsetCommitValue.json, GroupMetadataKey.json, GroupMetadataValue.json);
// docs/consumer-offsets.md has them as tables. Every record starts with a big-endian int16
// version; the key's version also says which kind of record it is. Versions 0-3 of the values
// use the classic encoding (int16-length strings, int32-length bytes and arrays); version 4 is
// the first "flexible" version (KIP-482 compact lengths and tagged fields), which Kafka reads but
// does not write so that a broker can still be downgraded (KIP-915). Ferry does the same.
//
// Each record struct below declares its own schema as a `visit()` member (fields in wire order,
// with Kafka's version ranges), in the form of broker/protocol/schema.h, so the project's one
// schema codec encodes and decodes them; offsets_format.cc adds only the leading version, the
// version rules, Kafka's length limits and the error text. This header itself needs nothing
// from broker/protocol.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "broker/groups/store.h"
#include "broker/groups/types.h"

namespace ferry::groups {

/// Key versions. 0 and 1 are both OffsetCommitKey with the same fields (0 was written by Kafka
/// 0.8.2, 1 since 0.9); 2 is GroupMetadataKey. These values are on-wire: never renumber.
inline constexpr int16_t kOffsetKeyVersionV0 = 0;
inline constexpr int16_t kOffsetKeyVersion = 1;
inline constexpr int16_t kGroupMetadataKeyVersion = 2;

/// OffsetCommitValue versions: written is v3 (leader epoch, no expire timestamp); v1 only when an
/// explicit expire timestamp must be kept, as Kafka does; read is 0-4.
inline constexpr int16_t kOffsetValueVersion = 3;
inline constexpr int16_t kOffsetValueVersionWithExpire = 1;
inline constexpr int16_t kMaxOffsetValueVersion = 4;

/// GroupMetadataValue versions: written is v3 (v4 adds no field, only the flexible encoding);
/// read is 0-4.
inline constexpr int16_t kGroupValueVersion = 3;
inline constexpr int16_t kMaxGroupValueVersion = 4;

/// The key of a committed offset: one record per (group, topic, partition), so compaction keeps
/// the latest commit of each.
struct OffsetKey {
  std::string group;
  std::string topic;
  int32_t partition = 0;
  /// OffsetCommitKey.json: the same three fields in key versions 0 and 1.
  template <class V>
  void visit(V& v) {
    v(group, 0, 1);
    v(topic, 0, 1);
    v(partition, 0, 1);
  }
  bool operator==(const OffsetKey&) const = default;
};

/// A committed offset. Timestamps are epoch milliseconds.
struct OffsetValue {
  /// The next offset the group will consume (Kafka's committed offset).
  int64_t offset = 0;
  /// The leader epoch of the record before `offset` (KIP-320); -1 when unknown. Value v3+.
  int32_t leader_epoch = -1;
  /// The client's free-form commit metadata. Never null in this record (OffsetCommit's null
  /// metadata is stored as "").
  std::string metadata;
  int64_t commit_timestamp = 0;
  /// When the offset expires; -1 means "by the broker's retention" (only value v1 carries it,
  /// from OffsetCommit v2-v4's retention_time_ms).
  int64_t expire_timestamp = -1;
  /// OffsetCommitValue.json, versions 0-4 (4 flexible, no tagged fields defined).
  template <class V>
  void visit(V& v) {
    v(offset, 0);
    v(leader_epoch, 3);
    v(metadata, 0);
    v(commit_timestamp, 0);
    v(expire_timestamp, 1, 1);
  }
  bool operator==(const OffsetValue&) const = default;
};

/// The key of a group's metadata: one record per group.
struct GroupMetadataKey {
  std::string group;
  /// GroupMetadataKey.json: key version 2 is the only one.
  template <class V>
  void visit(V& v) {
    v(group, 2, 2);
  }
  bool operator==(const GroupMetadataKey&) const = default;
};

/// A group's state as stored in `__consumer_offsets` (the value of its GroupMetadataKey).
struct GroupMetadataValue {
  std::string protocol_type;
  int32_t generation = 0;
  /// The selected protocol; null for an Empty group.
  std::optional<std::string> protocol;
  /// The leader's member id; null for an Empty group.
  std::optional<std::string> leader;
  /// When the group entered its current state (epoch ms); value v2+, -1 when absent.
  int64_t current_state_timestamp = -1;
  std::vector<MemberMetadata> members;
  /// GroupMetadataValue.json, versions 0-4 (4 flexible, no tagged fields defined).
  template <class V>
  void visit(V& v) {
    v(protocol_type, 0);
    v(generation, 0);
    v(protocol, 0);
    v(leader, 0);
    v(current_state_timestamp, 2);
    v(members, 0);
  }
  bool operator==(const GroupMetadataValue&) const = default;
};

/// The key of a `__consumer_offsets` record, by kind.
using ConsumerOffsetsKey = std::variant<OffsetKey, GroupMetadataKey>;

/// A decoded record: key plus value, where a null value (a tombstone) means the offset or group
/// was deleted and compaction will drop the key.
struct OffsetRecord {
  OffsetKey key;
  std::optional<OffsetValue> value;
};
struct GroupRecord {
  GroupMetadataKey key;
  std::optional<GroupMetadataValue> value;
};
using ConsumerOffsetsRecord = std::variant<OffsetRecord, GroupRecord>;

/// Thrown by decode_key()/decode_record() for a key version this codec does not know (newer
/// Kafka stores other coordinator records in the same topic, e.g. KIP-848 consumer-group records
/// from key version 3). KIP-915 says a loader skips such records instead of failing, so this is a
/// distinct type a loader can catch; every other decode error is a plain std::runtime_error.
class UnknownKeyVersion : public std::runtime_error {
 public:
  explicit UnknownKeyVersion(int16_t version);
  int16_t version() const { return version_; }

 private:
  int16_t version_;
};

/// OffsetCommitKey at `version` (0 or 1; Kafka writes 1). Throws std::runtime_error for another
/// version or a string longer than 32767 bytes.
Bytes encode_key(const OffsetKey& key, int16_t version = kOffsetKeyVersion);

/// GroupMetadataKey v2. Throws std::runtime_error for a group id longer than 32767 bytes.
Bytes encode_key(const GroupMetadataKey& key);

/// OffsetCommitValue at the version Kafka would pick: v1 when `expire_timestamp` is set (the only
/// version that carries it, losing the leader epoch), else v3.
Bytes encode_value(const OffsetValue& value);

/// OffsetCommitValue at an explicit `version` (0-4). Fields the version lacks are dropped (all
/// are "ignorable" in Kafka's schema). Throws std::runtime_error for another version or an
/// over-long string.
Bytes encode_value(const OffsetValue& value, int16_t version);

/// GroupMetadataValue at `version` (0-4, default v3). Fields the version lacks are dropped.
/// Throws std::runtime_error for another version, an over-long string, or more than INT32_MAX
/// bytes in a member's subscription/assignment.
Bytes encode_value(const GroupMetadataValue& value, int16_t version = kGroupValueVersion);

/// Decodes a record key, dispatching on its version: 0/1 -> OffsetKey, 2 -> GroupMetadataKey.
/// Throws UnknownKeyVersion for any other version; std::runtime_error ("OffsetCommitKey v1: ...")
/// for truncated, malformed (null or negative-length string) or over-long input.
ConsumerOffsetsKey decode_key(std::span<const uint8_t> bytes);

/// Decodes an OffsetCommitValue of any version 0-4. Throws std::runtime_error ("OffsetCommitValue
/// v<n>: ...") for an unknown version, truncation, a malformed field or trailing bytes.
OffsetValue decode_offset_value(std::span<const uint8_t> bytes);

/// Decodes a GroupMetadataValue of any version 0-4. Throws std::runtime_error
/// ("GroupMetadataValue v<n>: ...") like decode_offset_value().
GroupMetadataValue decode_group_value(std::span<const uint8_t> bytes);

/// Decodes a whole record. `value` is nullopt for a tombstone (a record whose value is null);
/// an empty but present value is not a tombstone and fails as truncated. Throws as decode_key()
/// and the value decoders do.
ConsumerOffsetsRecord decode_record(std::span<const uint8_t> key,
                                    std::optional<std::span<const uint8_t>> value);

/// The record value for a coordinator snapshot (its key is GroupMetadataKey{snapshot.group_id}).
/// An empty protocol name or leader id becomes null, as Kafka writes an Empty group.
GroupMetadataValue to_group_value(const GroupSnapshot& snapshot);

/// The coordinator snapshot a loaded record describes. Null protocol/leader become "". A value
/// without a state timestamp (v0/v1) takes `load_time_ms`, the loader's clock, so the restored
/// group's state age starts at loading rather than at the epoch.
GroupSnapshot to_snapshot(const GroupMetadataKey& key, const GroupMetadataValue& value,
                          int64_t load_time_ms);

}  // namespace ferry::groups
