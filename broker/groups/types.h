// Plain value types going in and out of the group coordinator. They mirror the fields of Kafka's
// JoinGroup (API 11), SyncGroup (14), Heartbeat (12), LeaveGroup (13), DescribeGroups (15),
// ListGroups (16) and DeleteGroups (42) messages, minus the framing, so the protocol handlers can
// copy fields across one to one. Version-specific defaulting (e.g. JoinGroup v0 has no rebalance
// timeout) is the handler's job and is noted on each field.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/protocol/errors.h"

namespace ferry::groups {

/// Answers carry Kafka's wire error codes; the handlers copy them into responses unchanged.
using protocol::ErrorCode;

/// Opaque bytes (protocol metadata, assignments); the coordinator never parses them.
using Bytes = std::vector<uint8_t>;

/// The classic group states (Kafka's GroupState). Dead is transient: a deleted group is removed.
enum class GroupState { empty, preparing_rebalance, completing_rebalance, stable, dead };

/// Kafka's spelling of the state as DescribeGroups and ListGroups v4 (KIP-518) carry it:
/// "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead".
std::string_view state_name(GroupState s);

/// Inverse of state_name(), case-insensitive as Kafka's ListGroups states filter is; nullopt for
/// an unknown name.
std::optional<GroupState> parse_state(std::string_view name);

/// Coordinator settings, named after the broker keys they come from.
struct CoordinatorConfig {
  /// group.min.session.timeout.ms: smallest session timeout a JoinGroup may ask for.
  int32_t min_session_timeout_ms = 6000;
  /// group.max.session.timeout.ms: largest session timeout a JoinGroup may ask for.
  int32_t max_session_timeout_ms = 1800000;
  /// group.initial.rebalance.delay.ms (KIP-134): how long the first rebalance of an empty group
  /// waits for more members; extended by the same amount while members keep arriving, up to the
  /// rebalance timeout.
  int32_t initial_rebalance_delay_ms = 3000;
  /// How long a brand-new member's JoinGroup may wait in a rebalance before the member is dropped
  /// (Kafka's fixed NewMemberJoinTimeoutMs, 5 minutes): a client that gave up and retried with a
  /// fresh id must not hold the rebalance open forever.
  int32_t new_member_join_timeout_ms = 300000;
};

/// One entry of JoinGroup's protocols array: an assignor name and the member's subscription.
struct Protocol {
  std::string name;
  Bytes metadata;
  bool operator==(const Protocol&) const = default;
};

/// A JoinGroup request.
struct JoinRequest {
  std::string group_id;
  /// "" on the first join; the id the coordinator issued afterwards.
  std::string member_id;
  /// group.instance.id (KIP-345, JoinGroup v5+); nullopt for dynamic members.
  std::optional<std::string> group_instance_id;
  /// The request header's client.id; prefix of generated member ids.
  std::string client_id;
  /// The client's address, reported by DescribeGroups.
  std::string client_host;
  int32_t session_timeout_ms = 10000;
  /// JoinGroup v0 has no such field: the handler passes the session timeout (as Kafka does).
  int32_t rebalance_timeout_ms = 300000;
  std::string protocol_type;
  /// In the member's order of preference.
  std::vector<Protocol> protocols;
  /// The request's API version; from v4 an unknown member gets MEMBER_ID_REQUIRED (KIP-394).
  int16_t api_version = 5;
};

/// One member as the leader sees it in its JoinGroup response.
struct JoinedMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  /// The member's metadata for the selected protocol.
  Bytes metadata;
};

/// A JoinGroup response.
struct JoinResult {
  ErrorCode error = ErrorCode::NONE;
  /// -1 when error != NONE (Kafka's UNKNOWN_GENERATION_ID).
  int32_t generation_id = -1;
  /// "" when unknown (JoinGroup v7+ sends null).
  std::string protocol_type;
  /// The selected protocol; "" when unknown.
  std::string protocol_name;
  std::string leader_id;
  /// The member's id: the newly issued one for MEMBER_ID_REQUIRED and first joins.
  std::string member_id;
  /// KIP-814 (v9+): the static leader rejoined without changes; it must not compute a new
  /// assignment. Handlers for older versions drop the flag (a leader that assigns anyway is
  /// answered with the current assignment by SyncGroup, since the group is Stable).
  bool skip_assignment = false;
  /// Filled for the leader only: every member with its metadata for the selected protocol.
  std::vector<JoinedMember> members;
};

/// A SyncGroup request.
struct SyncRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  /// SyncGroup v5+ (KIP-559): checked against the group's when present.
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  /// Sent by the leader only: member id -> assignment. Members it omits get an empty one.
  std::vector<std::pair<std::string, Bytes>> assignments;
};

/// A SyncGroup response.
struct SyncResult {
  ErrorCode error = ErrorCode::NONE;
  std::string protocol_type;
  std::string protocol_name;
  Bytes assignment;
};

/// A Heartbeat request; also the identity OffsetCommit validates (check_offset_commit).
struct HeartbeatRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
};

/// One member named by LeaveGroup. v0-v2 name one member by id; v3 (KIP-345) may name several,
/// each by member id or, with member_id "", by group.instance.id alone.
struct MemberIdentity {
  std::string member_id;
  std::optional<std::string> group_instance_id;
};

/// A LeaveGroup request.
struct LeaveRequest {
  std::string group_id;
  std::vector<MemberIdentity> members;
};

/// The per-member outcome of a LeaveGroup (v3 response's members array).
struct MemberLeaveResult {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  ErrorCode error = ErrorCode::NONE;
};

/// A LeaveGroup response. For v0-v2 the handler sends the single member's error as the top-level
/// error when the top-level error is NONE.
struct LeaveResult {
  ErrorCode error = ErrorCode::NONE;
  std::vector<MemberLeaveResult> members;
};

/// One member in a DescribeGroups answer; metadata and assignment are empty unless Stable.
struct MemberDescription {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  Bytes metadata;
  Bytes assignment;
};

/// One group in a DescribeGroups answer. An unknown group is answered with state "Dead" and no
/// error, as Kafka does.
struct GroupDescription {
  ErrorCode error = ErrorCode::NONE;
  std::string group_id;
  std::string state;
  std::string protocol_type;
  /// The selected protocol while Stable, "" otherwise.
  std::string protocol;
  std::vector<MemberDescription> members;
};

/// One group in a ListGroups answer.
struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  GroupState state = GroupState::empty;
  /// When the group entered `state`, in the coordinator's clock (ms): how long an Empty group has
  /// been empty decides when its committed offsets expire (KIP-211).
  int64_t state_since_ms = 0;
};

/// One group's outcome in a DeleteGroups answer.
struct DeleteResult {
  std::string group_id;
  ErrorCode error = ErrorCode::NONE;
};

/// Delivers a JoinGroup answer; may run later, from another caller's thread (tick, a join).
using JoinCallback = std::function<void(JoinResult)>;
/// Delivers a SyncGroup answer; may run later, from another caller's thread.
using SyncCallback = std::function<void(SyncResult)>;

}  // namespace ferry::groups
