// The persistence seam of the group coordinator. A snapshot carries what Kafka's GroupMetadataValue
// record (the value of a group's key in __consumer_offsets) carries, so a store backed by that topic
// can encode it field for field. Committed offsets are not part of it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/groups/types.h"

namespace ferry::groups {

/// One member as persisted: the member of Kafka's GroupMetadataValue record (its MemberMetadata
/// struct, GroupMetadataValue.json), which is also the member of a GroupSnapshot — one struct, so
/// the coordinator's stored form and the __consumer_offsets encoding cannot drift.
struct MemberMetadata {
  std::string member_id;
  /// group.instance.id (KIP-345); value v3+, nullopt for dynamic members.
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  /// Value v1+; a v0 record has none and decodes with the session timeout here, as Kafka does.
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  /// The member's protocol metadata for the selected protocol.
  Bytes subscription;
  Bytes assignment;
  /// The fields with the GroupMetadataValue version each appeared in (offsets_format.h encodes
  /// them at the enclosing value's version).
  template <class V>
  void visit(V& v) {
    v(member_id, 0);
    v(group_instance_id, 3);
    v(client_id, 0);
    v(client_host, 0);
    v(rebalance_timeout_ms, 1);
    v(session_timeout_ms, 0);
    v(subscription, 0);
    v(assignment, 0);
  }
  bool operator==(const MemberMetadata&) const = default;
};

/// A group's durable state. An empty `members` means the group is Empty at `generation_id`.
struct GroupSnapshot {
  std::string group_id;
  std::string protocol_type;
  int32_t generation_id = 0;
  /// The selected protocol; "" for an Empty group.
  std::string protocol_name;
  std::string leader_id;
  /// When the group entered its current state, in the coordinator's clock (ms).
  int64_t state_timestamp_ms = 0;
  std::vector<MemberMetadata> members;
  bool operator==(const GroupSnapshot&) const = default;
};

/// Where the coordinator writes group state. Called outside the coordinator's state mutex but
/// under a second mutex that keeps calls in the order the state changed, so an implementation
/// must not call back into the coordinator. Kafka writes the same moments: a new Empty
/// generation, the leader's assignment (SyncGroup), a static member replacing its old id without
/// a rebalance; and a tombstone when a group is deleted.
class GroupStore {
 public:
  virtual ~GroupStore() = default;
  /// Replaces the stored state of `snapshot.group_id`.
  virtual void persist(const GroupSnapshot& snapshot) = 0;
  /// Deletes the stored state of `group_id` (Kafka writes a tombstone).
  virtual void remove(const std::string& group_id) = 0;
  /// Whether persist(snapshot) could succeed, checked before a generation is accepted (the
  /// leader's SyncGroup): NONE, or the error to answer the group's members with. Called under the
  /// coordinator's state mutex, so it must be a pure check that does not block or call back.
  /// The default accepts everything.
  virtual ErrorCode check(const GroupSnapshot& snapshot) const {
    (void)snapshot;
    return ErrorCode::NONE;
  }
};

/// A GroupStore keeping the latest snapshot per group in memory. For tests and for running the
/// broker until the __consumer_offsets-backed store exists. Thread-safe.
class MemoryGroupStore final : public GroupStore {
 public:
  void persist(const GroupSnapshot& snapshot) override;
  void remove(const std::string& group_id) override;
  /// The latest snapshot of every group not removed, ordered by group id; pass to
  /// GroupCoordinator::restore() to rebuild state.
  std::vector<GroupSnapshot> snapshots() const;
  /// The latest snapshot of `group_id`, if any.
  std::optional<GroupSnapshot> get(const std::string& group_id) const;
  /// How many persist() calls were made (every write, not just the live ones).
  size_t writes() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, GroupSnapshot> groups_;
  size_t writes_ = 0;
};

}  // namespace ferry::groups
