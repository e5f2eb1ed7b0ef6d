// Kafka's classic group coordinator (the JoinGroup/SyncGroup/Heartbeat/LeaveGroup protocol of
// KIP-62, KIP-134, KIP-345, KIP-394) as a socket-free state machine. Plain structs in and out;
// JoinGroup and SyncGroup answers arrive through callbacks because they wait for other members.
// Time is injected: tick(now_ms) advances the clock and fires every timeout that became due;
// requests use the last ticked time and also fire the due timers of the group they touch. No
// threads inside.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "broker/protocol/errors.h"
#include "broker/groups/group.h"
#include "broker/groups/store.h"
#include "broker/groups/types.h"

namespace ferry::groups {

/// All groups of one coordinator. Thread-safe: one mutex guards the state, and no callback or
/// GroupStore call runs while it is held, so callbacks may call back into the coordinator.
/// Every JoinCallback/SyncCallback is invoked exactly once, unless the coordinator is destroyed
/// without shutdown().
class GroupCoordinator {
 public:
  /// `store` may be null (nothing is persisted). `now_ms` starts the clock.
  GroupCoordinator(CoordinatorConfig config, std::shared_ptr<GroupStore> store, int64_t now_ms);
  /// Drops pending callbacks without calling them: call shutdown() first to answer them.
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  /// JoinGroup. `done` runs once: at once for errors, MEMBER_ID_REQUIRED (v4+, KIP-394) and
  /// rejoins that need no rebalance; otherwise when the rebalance completes (all members
  /// rejoined, or the rebalance timeout / initial delay expired in tick()).
  /// Errors: INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT, UNKNOWN_MEMBER_ID,
  /// INCONSISTENT_GROUP_PROTOCOL, FENCED_INSTANCE_ID, MEMBER_ID_REQUIRED,
  /// COORDINATOR_NOT_AVAILABLE; REBALANCE_IN_PROGRESS when the same member sent a newer
  /// JoinGroup before this one was answered; NOT_COORDINATOR on shutdown().
  void join(const JoinRequest& req, JoinCallback done);

  /// SyncGroup. Followers wait in CompletingRebalance until the leader's SyncGroup brings the
  /// assignment (which is persisted first); in Stable the member's assignment is returned at once.
  /// Errors: INVALID_GROUP_ID, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION,
  /// INCONSISTENT_GROUP_PROTOCOL (v5 type/name mismatch), REBALANCE_IN_PROGRESS (also to waiting
  /// followers when a new rebalance starts), COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
  void sync(const SyncRequest& req, SyncCallback done);

  /// Heartbeat: renews the member's session. Returns NONE (Stable, CompletingRebalance),
  /// REBALANCE_IN_PROGRESS (PreparingRebalance: rejoin), UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
  /// FENCED_INSTANCE_ID, INVALID_GROUP_ID or COORDINATOR_NOT_AVAILABLE.
  ErrorCode heartbeat(const HeartbeatRequest& req);

  /// The group-membership half of OffsetCommit, for the offsets owner to call before writing:
  /// renews the session like a heartbeat and returns the error Kafka would answer the commit
  /// with. generation_id < 0 on an unknown or Empty group is a standalone (non-group) commit:
  /// NONE, and the group is created Empty. CompletingRebalance answers REBALANCE_IN_PROGRESS.
  /// The empty group id is a valid group here, as in Kafka (isValidGroupId keeps it for offsets).
  ErrorCode check_offset_commit(const HeartbeatRequest& req);

  /// LeaveGroup. Removing a member rebalances the group (or completes a rebalance that was only
  /// waiting for it). Top-level errors: INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE; per member:
  /// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID. An unknown group gives NONE with every member
  /// UNKNOWN_MEMBER_ID, as Kafka does.
  LeaveResult leave(const LeaveRequest& req);

  /// DescribeGroups, in the order asked. Unknown groups: NONE with state "Dead".
  /// `now_ms` (wall-clock ms of the request): when given, the clock advances to it and the due
  /// timers of the groups asked fire first, so a member whose session expired between two ticks
  /// is not shown (Kafka's purgatory expires a session at its deadline, not at the next tick).
  /// Without it, the groups are described as of the last tick.
  std::vector<GroupDescription> describe(const std::vector<std::string>& group_ids,
                                         std::optional<int64_t> now_ms = std::nullopt);

  /// ListGroups, ordered by group id. A non-empty `states` keeps only groups in those states
  /// (ListGroups v4, KIP-518). `now_ms` as for describe(), firing the due timers of every group.
  std::vector<GroupListing> list(const std::vector<GroupState>& states = {},
                                 std::optional<int64_t> now_ms = std::nullopt);

  /// DeleteGroups, in the order asked: NONE (the group is gone and a tombstone is written),
  /// NON_EMPTY_GROUP or GROUP_ID_NOT_FOUND ("" is a valid, usually unknown, group id here).
  /// `now_ms` as for describe(): a group whose last members' sessions are past their deadline is
  /// Empty, hence deletable, even if no tick ran since.
  std::vector<DeleteResult> delete_groups(const std::vector<std::string>& group_ids,
                                          std::optional<int64_t> now_ms = std::nullopt);

  /// Advances the clock to `now_ms` (a smaller value is ignored) and fires what became due:
  /// session expiry, KIP-394 pending-member expiry, new-member join timeout, initial rebalance
  /// delay and rebalance timeout.
  void tick(int64_t now_ms);

  /// The earliest time at which tick() has something to do; nullopt when nothing is scheduled.
  /// Lets the caller arm one timer instead of polling.
  std::optional<int64_t> next_deadline_ms() const;

  /// Loads persisted groups (at startup, before serving). A group with members comes back Stable
  /// with each member's session starting now; one without comes back Empty. A group of the same
  /// id already present is replaced, its pending requests answered with NOT_COORDINATOR.
  void restore(const std::vector<GroupSnapshot>& snapshots);

  /// Unloads every group, answering pending JoinGroup/SyncGroup requests with NOT_COORDINATOR
  /// (Kafka's coordinator resignation). Nothing is persisted.
  void shutdown();
  /// Unloads these groups the same way (another broker became their coordinator: Kafka's
  /// GroupCoordinator.onResignation for one __consumer_offsets partition). Unknown ids are ignored.
  void unload_groups(const std::vector<std::string>& group_ids);

 private:
  using Group = detail::Group;
  using Member = detail::Member;
  using Outbox = detail::Outbox;

  void join_unknown(Group& g, const JoinRequest& req, const JoinCallback& done, Outbox& out);
  void join_static_unknown(Group& g, const JoinRequest& req, const JoinCallback& done, Outbox& out);
  void join_existing(Group& g, const JoinRequest& req, const JoinCallback& done, Outbox& out);
  void add_member_and_rebalance(Group& g, const JoinRequest& req, const std::string& member_id,
                                const JoinCallback& done, Outbox& out);
  void update_member_and_rebalance(Group& g, Member& m, const JoinRequest& req,
                                   const JoinCallback& done, Outbox& out, const char* reason);
  void prepare_rebalance(Group& g, Outbox& out, const std::string& reason);
  void maybe_prepare_rebalance(Group& g, Outbox& out, const std::string& reason);
  void maybe_complete_join(Group& g, Outbox& out);
  void complete_join(Group& g, Outbox& out);
  void remove_member(Group& g, const std::string& member_id, Outbox& out, const char* reason);
  /// Moves the clock forward to `now_ms` if given (never backwards). Caller holds mu_.
  void advance_clock(std::optional<int64_t> now_ms);
  /// Fires due timers of every group: O(all members), so only tick() and list() do it.
  void expire_due(Outbox& out);
  /// Fires due timers of the group a request touched.
  void expire_touched(const std::string& group_id, Outbox& out);
  void expire_group(Group& g, Outbox& out);
  void renew(Member& m) const { m.heartbeat_deadline_ms = now_ms_ + m.session_timeout_ms; }
  JoinResult current_generation(const Group& g, const Member& m, bool with_members) const;
  std::string new_member_id(const std::string& prefix);
  void unload(Group& g, Outbox& out);
  /// Releases `lk`, then performs the outbox: store writes (serialized by store_mu_) and calls.
  void deliver(std::unique_lock<std::mutex>& lk, Outbox& out);

  const CoordinatorConfig config_;
  const std::shared_ptr<GroupStore> store_;
  mutable std::mutex mu_;
  std::mutex store_mu_;
  int64_t now_ms_;
  std::map<std::string, std::unique_ptr<Group>> groups_;
  std::mt19937_64 rng_;
};

}  // namespace ferry::groups
