// Consumer-group membership (the classic rebalance protocol): FindCoordinator (key 10, v0–2,
// flexible from 3), JoinGroup (key 11, v2–5, flexible from 6), Heartbeat (key 12, v1–3, flexible
// from 4), LeaveGroup (key 13, v1–3, flexible from 4), SyncGroup (key 14, v1–3, flexible from 4).
// Group administration (DescribeGroups, ListGroups, DeleteGroups) is in groups_admin.h, included
// below so that this header declares every group API. Source: the Kafka message schemas of the
// same names; KIP-98 (FindCoordinator key type), KIP-394 (JoinGroup v4 member id round trip),
// KIP-345 (static membership: GroupInstanceId, LeaveGroup v3 batches).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct FindCoordinatorResponse {
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  std::optional<std::string> error_message;
  int32_t node_id = 0;
  std::string host;
  int32_t port = 0;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 1);
    v(error_code, 0, 3);  // v4+ answers per key in Coordinators (KIP-699)
    v(error_message, 1, 3);
    v(node_id, 0, 3);
    v(host, 0, 3);
    v(port, 0, 3);
  }
  bool operator==(const FindCoordinatorResponse&) const = default;
};

/// Locates the broker coordinating a group (key_type 0) or a transactional id (key_type 1).
struct FindCoordinatorRequest {
  static constexpr int16_t api_key = 10, min_version = 0, max_version = 2, flexible_from = 3;
  static constexpr const char* name = "FindCoordinator";
  using Response = FindCoordinatorResponse;
  std::string key;
  int8_t key_type = 0;
  template <class V>
  void visit(V& v) {
    v(key, 0, 3);  // replaced by CoordinatorKeys from v4 (KIP-699)
    v(key_type, 1);
  }
  bool operator==(const FindCoordinatorRequest&) const = default;
};

struct JoinGroupResponse {
  struct JoinGroupResponseMember {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    Bytes metadata;
    template <class V>
    void visit(V& v) {
      v(member_id, 0);
      v(group_instance_id, 5);
      v(metadata, 0);
    }
    bool operator==(const JoinGroupResponseMember&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  int32_t generation_id = -1;
  std::string protocol_name;  // nullable only from v7 (KIP-559), beyond Ferry's range
  std::string leader;
  std::string member_id;
  std::vector<JoinGroupResponseMember> members;  // filled for the leader only
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 2);
    v(error_code, 0);
    v(generation_id, 0);
    v(protocol_name, 0);
    v(leader, 0);
    v(member_id, 0);
    v(members, 0);
  }
  bool operator==(const JoinGroupResponse&) const = default;
};

/// Joins (or rejoins) a group. `rebalance_timeout_ms` = -1 means "use session_timeout_ms";
/// `protocols[].metadata` is opaque here (the consumer protocol's subscription bytes).
struct JoinGroupRequest {
  static constexpr int16_t api_key = 11, min_version = 0, max_version = 5, flexible_from = 6;
  static constexpr const char* name = "JoinGroup";
  using Response = JoinGroupResponse;
  struct JoinGroupRequestProtocol {
    std::string name;
    Bytes metadata;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(metadata, 0);
    }
    bool operator==(const JoinGroupRequestProtocol&) const = default;
  };
  std::string group_id;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string protocol_type;
  std::vector<JoinGroupRequestProtocol> protocols;
  template <class V>
  void visit(V& v) {
    v(group_id, 0);
    v(session_timeout_ms, 0);
    v(rebalance_timeout_ms, 1);
    v(member_id, 0);
    v(group_instance_id, 5);
    v(protocol_type, 0);
    v(protocols, 0);
  }
  bool operator==(const JoinGroupRequest&) const = default;
};

struct HeartbeatResponse {
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 1);
    v(error_code, 0);
  }
  bool operator==(const HeartbeatResponse&) const = default;
};

/// Keeps a member alive between rebalances; REBALANCE_IN_PROGRESS tells it to rejoin.
struct HeartbeatRequest {
  static constexpr int16_t api_key = 12, min_version = 0, max_version = 3, flexible_from = 4;
  static constexpr const char* name = "Heartbeat";
  using Response = HeartbeatResponse;
  std::string group_id;
  int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  template <class V>
  void visit(V& v) {
    v(group_id, 0);
    v(generation_id, 0);
    v(member_id, 0);
    v(group_instance_id, 3);
  }
  bool operator==(const HeartbeatRequest&) const = default;
};

struct LeaveGroupResponse {
  struct MemberResponse {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    ErrorCode error_code = ErrorCode::NONE;
    template <class V>
    void visit(V& v) {
      v(member_id, 3);
      v(group_instance_id, 3);
      v(error_code, 3);
    }
    bool operator==(const MemberResponse&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  std::vector<MemberResponse> members;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 1);
    v(error_code, 0);
    v(members, 3);
  }
  bool operator==(const LeaveGroupResponse&) const = default;
};

/// Leaves a group. v1–2 name one member in `member_id`; v3 carries a batch in `members`
/// (KIP-345), each identified by member id and/or group instance id.
struct LeaveGroupRequest {
  static constexpr int16_t api_key = 13, min_version = 0, max_version = 3, flexible_from = 4;
  static constexpr const char* name = "LeaveGroup";
  using Response = LeaveGroupResponse;
  struct MemberIdentity {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    template <class V>
    void visit(V& v) {
      v(member_id, 3);
      v(group_instance_id, 3);
    }
    bool operator==(const MemberIdentity&) const = default;
  };
  std::string group_id;
  std::string member_id;
  std::vector<MemberIdentity> members;
  template <class V>
  void visit(V& v) {
    v(group_id, 0);
    v(member_id, 0, 2);
    v(members, 3);
  }
  bool operator==(const LeaveGroupRequest&) const = default;
};

struct SyncGroupResponse {
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  Bytes assignment;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 1);
    v(error_code, 0);
    v(assignment, 0);
  }
  bool operator==(const SyncGroupResponse&) const = default;
};

/// Ends a rebalance: the leader sends every member's assignment, followers send none, and each
/// gets its own assignment back (opaque bytes here).
struct SyncGroupRequest {
  static constexpr int16_t api_key = 14, min_version = 0, max_version = 3, flexible_from = 4;
  static constexpr const char* name = "SyncGroup";
  using Response = SyncGroupResponse;
  struct SyncGroupRequestAssignment {
    std::string member_id;
    Bytes assignment;
    template <class V>
    void visit(V& v) {
      v(member_id, 0);
      v(assignment, 0);
    }
    bool operator==(const SyncGroupRequestAssignment&) const = default;
  };
  std::string group_id;
  int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::vector<SyncGroupRequestAssignment> assignments;
  template <class V>
  void visit(V& v) {
    v(group_id, 0);
    v(generation_id, 0);
    v(member_id, 0);
    v(group_instance_id, 3);
    v(assignments, 0);
  }
  bool operator==(const SyncGroupRequest&) const = default;
};

}  // namespace ferry::protocol

#include "broker/protocol/messages/groups_admin.h"
