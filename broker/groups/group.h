// One group's in-memory state and the rules that only need that state (protocol checks and
// selection, membership bookkeeping, leader choice). Internal to ferry_groups: the coordinator
// owns every Group and guards it with its mutex; nothing here locks or calls back.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/groups/store.h"
#include "broker/groups/types.h"

namespace ferry::groups::detail {

/// A joined member. A pending JoinGroup or SyncGroup is held as its callback until answered.
struct Member {
  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;
  std::string protocol_type;
  std::vector<Protocol> protocols;
  Bytes assignment;
  JoinCallback join_cb;
  SyncCallback sync_cb;
  /// Joined in the current rebalance and not answered yet: bounded by new_member_join_timeout_ms
  /// instead of being kept alive by its pending JoinGroup.
  bool is_new = false;
  int64_t new_member_deadline_ms = 0;
  /// Session expiry: last heartbeat (or answered join/sync) + session timeout.
  int64_t heartbeat_deadline_ms = 0;

  bool awaiting_join() const { return static_cast<bool>(join_cb); }
  bool awaiting_sync() const { return static_cast<bool>(sync_cb); }
  /// The member's metadata for `protocol`; empty if it does not support it.
  Bytes metadata_for(const std::string& protocol) const;
};

/// A group. Members keep their join order: the leader falls back to the earliest member.
class Group {
 public:
  explicit Group(std::string id, int64_t now_ms) : id_(std::move(id)), state_since_ms_(now_ms) {}

  const std::string& id() const { return id_; }
  GroupState state() const { return state_; }
  int64_t state_since_ms() const { return state_since_ms_; }
  void transition(GroupState s, int64_t now_ms);

  int32_t generation = 0;
  std::string protocol_type;
  std::string protocol_name;
  std::string leader_id;

  /// Rebalance timer while PreparingRebalance (-1 when none). With `initial_delay`, expiry
  /// re-arms for min(initial delay, remaining) while new members keep arriving (KIP-134).
  int64_t rebalance_deadline_ms = -1;
  bool initial_delay = false;
  int32_t initial_remaining_ms = 0;
  bool new_member_added = false;

  /// Members that got MEMBER_ID_REQUIRED (KIP-394): id -> expiry (session timeout).
  std::map<std::string, int64_t> pending;

  bool empty() const { return order_.empty(); }
  size_t size() const { return order_.size(); }
  bool has(const std::string& member_id) const { return members_.count(member_id) != 0; }
  Member& get(const std::string& member_id) { return members_.at(member_id); }
  const Member& get(const std::string& member_id) const { return members_.at(member_id); }
  /// Member ids in join order.
  const std::vector<std::string>& member_ids() const { return order_; }

  /// Adds a member; the first member of an empty group sets the protocol type and the leader.
  void add(Member m);
  /// Removes a member (callbacks must already be answered); picks a new leader if it led.
  void remove(const std::string& member_id);
  /// Gives a static member a new id (KIP-345), keeping its place, leadership and assignment.
  void rename(const std::string& old_id, const std::string& new_id);

  /// The member id owning `instance_id`, if any.
  std::optional<std::string> static_member(const std::string& instance_id) const;
  /// KIP-345 fencing: `instance_id` is owned by a different member id than `member_id`.
  bool is_fenced(const std::string& member_id, const std::optional<std::string>& instance_id) const;

  /// Whether a member with these protocols may be in the group: a group without members takes
  /// any non-empty type and list; otherwise the type must match and at least one protocol must be
  /// supported by every other member (`exclude` is the joining member itself, if it is one).
  bool supports(const std::string& type, const std::vector<Protocol>& protocols,
                const std::string& exclude) const;
  /// Kafka's vote: among protocols every member supports, each member votes for the first one
  /// in its preference order; most votes wins, ties go to the leader's preference. "" if none.
  std::string select_protocol() const;

  /// Every member has a pending JoinGroup and no KIP-394 member is still expected.
  bool all_joined() const;
  /// The largest rebalance timeout of any member (0 with no members).
  int32_t max_rebalance_timeout_ms() const;
  /// If the leader has not rejoined, hands leadership to a member that has; false if none has.
  bool elect_joined_leader();
  /// The leader's view of the members for the selected protocol.
  std::vector<JoinedMember> joined_members() const;

  GroupSnapshot snapshot() const;
  GroupDescription describe() const;

 private:
  std::string id_;
  GroupState state_ = GroupState::empty;
  int64_t state_since_ms_ = 0;
  std::vector<std::string> order_;
  std::map<std::string, Member> members_;
  std::map<std::string, std::string> static_members_;
};

/// Answers and store writes decided under the coordinator's mutex, delivered after it is
/// released (store writes first, in order, then the callbacks).
struct Outbox {
  std::vector<std::function<void()>> calls;
  /// group id -> snapshot to persist, or nullopt for a tombstone.
  std::vector<std::pair<std::string, std::optional<GroupSnapshot>>> writes;

  /// Answers and clears the member's pending JoinGroup, if any.
  void answer_join(Member& m, JoinResult r);
  /// Answers and clears the member's pending SyncGroup, if any.
  void answer_sync(Member& m, SyncResult r);
  /// Answers a request that never got attached to a member.
  void answer(const JoinCallback& cb, JoinResult r);
  void answer(const SyncCallback& cb, SyncResult r);
  void persist(const Group& g) { writes.emplace_back(g.id(), g.snapshot()); }
  void tombstone(const std::string& group_id) { writes.emplace_back(group_id, std::nullopt); }
};

}  // namespace ferry::groups::detail
