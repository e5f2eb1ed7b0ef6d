// Consumer-group administration: DescribeGroups (key 15, v2–4, flexible from 5), ListGroups
// (key 16, v1–4, flexible from 3), DeleteGroups (key 42, v0–1, flexible from 2). Source: the
// Kafka message schemas of the same names; KIP-430 (DescribeGroups v3 authorized operations),
// KIP-345 (v4 group instance ids), KIP-518 (ListGroups v4 state filter), KIP-229 (DeleteGroups).
#pragma once

#include <climits>

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

/// One entry per requested group. Member metadata and assignment are opaque bytes here (the
/// consumer protocol's subscription and assignment).
struct DescribeGroupsResponse {
  struct DescribedGroupMember {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::string client_id;
    std::string client_host;
    Bytes member_metadata;    // only while the group is Stable
    Bytes member_assignment;  // only while the group is Stable
    template <class V>
    void visit(V& v) {
      v(member_id, 0);
      v(group_instance_id, 4);
      v(client_id, 0);
      v(client_host, 0);
      v(member_metadata, 0);
      v(member_assignment, 0);
    }
    bool operator==(const DescribedGroupMember&) const = default;
  };
  struct DescribedGroup {
    ErrorCode error_code = ErrorCode::NONE;
    std::string group_id;
    std::string group_state;
    std::string protocol_type;
    std::string protocol_data;
    std::vector<DescribedGroupMember> members;
    int32_t authorized_operations = INT32_MIN;  // bitfield (KIP-430); INT32_MIN = not requested
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(group_id, 0);
      v(group_state, 0);
      v(protocol_type, 0);
      v(protocol_data, 0);
      v(members, 0);
      v(authorized_operations, 3);
    }
    bool operator==(const DescribedGroup&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<DescribedGroup> groups;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 1);
    v(groups, 0);
  }
  bool operator==(const DescribeGroupsResponse&) const = default;
};

/// Describes groups by id (admin clients and kafka-consumer-groups --describe).
struct DescribeGroupsRequest {
  static constexpr int16_t api_key = 15, min_version = 0, max_version = 4, flexible_from = 5;
  static constexpr const char* name = "DescribeGroups";
  using Response = DescribeGroupsResponse;
  std::vector<std::string> groups;
  bool include_authorized_operations = false;
  template <class V>
  void visit(V& v) {
    v(groups, 0);
    v(include_authorized_operations, 3);
  }
  bool operator==(const DescribeGroupsRequest&) const = default;
};

/// The groups this broker coordinates.
struct ListGroupsResponse {
  struct ListedGroup {
    std::string group_id;
    std::string protocol_type;
    std::string group_state;
    template <class V>
    void visit(V& v) {
      v(group_id, 0);
      v(protocol_type, 0);
      v(group_state, 4);
    }
    bool operator==(const ListedGroup&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  std::vector<ListedGroup> groups;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 1);
    v(error_code, 0);
    v(groups, 0);
  }
  bool operator==(const ListGroupsResponse&) const = default;
};

/// Lists the groups a broker coordinates. From v4, `states_filter` restricts the answer to groups
/// in those states (names such as "Stable"); empty means every group (KIP-518).
/// Before v3 the body is empty.
struct ListGroupsRequest {
  static constexpr int16_t api_key = 16, min_version = 0, max_version = 4, flexible_from = 3;
  static constexpr const char* name = "ListGroups";
  using Response = ListGroupsResponse;
  std::vector<std::string> states_filter;
  template <class V>
  void visit(V& v) {
    v(states_filter, 4);
  }
  bool operator==(const ListGroupsRequest&) const = default;
};

/// One result per requested group.
struct DeleteGroupsResponse {
  struct DeletableGroupResult {
    std::string group_id;
    ErrorCode error_code = ErrorCode::NONE;
    template <class V>
    void visit(V& v) {
      v(group_id, 0);
      v(error_code, 0);
    }
    bool operator==(const DeletableGroupResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<DeletableGroupResult> results;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(results, 0);
  }
  bool operator==(const DeleteGroupsResponse&) const = default;
};

/// Deletes empty groups and their committed offsets. The JSON field really is "GroupsNames".
struct DeleteGroupsRequest {
  static constexpr int16_t api_key = 42, min_version = 0, max_version = 1, flexible_from = 2;
  static constexpr const char* name = "DeleteGroups";
  using Response = DeleteGroupsResponse;
  std::vector<std::string> groups_names;
  template <class V>
  void visit(V& v) {
    v(groups_names, 0);
  }
  bool operator==(const DeleteGroupsRequest&) const = default;
};

}  // namespace ferry::protocol
