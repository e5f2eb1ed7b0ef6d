// ACL administration: DescribeAcls (key 29), CreateAcls (key 30), DeleteAcls (key 31), versions
// 0–3, flexible from 2. v0 has no pattern type (it is LITERAL, the JSON default 3); v3 adds the
// USER resource type (no layout change). Source: Kafka message schemas DescribeAclsRequest/
// Response.json, CreateAclsRequest/Response.json, DeleteAclsRequest/Response.json; KIP-11
// (ACLs), KIP-290 (prefixed patterns, v1), KIP-482 (flexible v2), KIP-554 (v3).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

/// The ACLs matching the filter, grouped by resource pattern.
struct DescribeAclsResponse {
  struct AclDescription {
    std::string principal;
    std::string host;
    int8_t operation = 0;
    int8_t permission_type = 0;
    template <class V>
    void visit(V& v) {
      v(principal, 0);
      v(host, 0);
      v(operation, 0);
      v(permission_type, 0);
    }
    bool operator==(const AclDescription&) const = default;
  };
  struct DescribeAclsResource {
    int8_t resource_type = 0;
    std::string resource_name;
    int8_t pattern_type = 3;  // LITERAL below v1
    std::vector<AclDescription> acls;
    template <class V>
    void visit(V& v) {
      v(resource_type, 0);
      v(resource_name, 0);
      v(pattern_type, 1);
      v(acls, 0);
    }
    bool operator==(const DescribeAclsResource&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  std::optional<std::string> error_message;
  std::vector<DescribeAclsResource> resources;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(error_code, 0);
    v(error_message, 0);
    v(resources, 0);
  }
  bool operator==(const DescribeAclsResponse&) const = default;
};

/// One ACL binding filter (null name/principal/host = any; codes ANY = 1 match any).
struct DescribeAclsRequest {
  static constexpr int16_t api_key = 29, min_version = 0, max_version = 3, flexible_from = 2;
  static constexpr const char* name = "DescribeAcls";
  using Response = DescribeAclsResponse;
  int8_t resource_type_filter = 0;
  std::optional<std::string> resource_name_filter;
  int8_t pattern_type_filter = 3;  // LITERAL below v1
  std::optional<std::string> principal_filter;
  std::optional<std::string> host_filter;
  int8_t operation = 0;
  int8_t permission_type = 0;
  template <class V>
  void visit(V& v) {
    v(resource_type_filter, 0);
    v(resource_name_filter, 0);
    v(pattern_type_filter, 1);
    v(principal_filter, 0);
    v(host_filter, 0);
    v(operation, 0);
    v(permission_type, 0);
  }
  bool operator==(const DescribeAclsRequest&) const = default;
};

/// One result per creation, in request order.
struct CreateAclsResponse {
  struct AclCreationResult {
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(error_message, 0);
    }
    bool operator==(const AclCreationResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<AclCreationResult> results;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(results, 0);
  }
  bool operator==(const CreateAclsResponse&) const = default;
};

struct CreateAclsRequest {
  static constexpr int16_t api_key = 30, min_version = 0, max_version = 3, flexible_from = 2;
  static constexpr const char* name = "CreateAcls";
  using Response = CreateAclsResponse;
  struct AclCreation {
    int8_t resource_type = 0;
    std::string resource_name;
    int8_t resource_pattern_type = 3;  // LITERAL below v1
    std::string principal;
    std::string host;
    int8_t operation = 0;
    int8_t permission_type = 0;
    template <class V>
    void visit(V& v) {
      v(resource_type, 0);
      v(resource_name, 0);
      v(resource_pattern_type, 1);
      v(principal, 0);
      v(host, 0);
      v(operation, 0);
      v(permission_type, 0);
    }
    bool operator==(const AclCreation&) const = default;
  };
  std::vector<AclCreation> creations;
  template <class V>
  void visit(V& v) {
    v(creations, 0);
  }
  bool operator==(const CreateAclsRequest&) const = default;
};

/// One result per filter, in request order, with the ACLs it deleted.
struct DeleteAclsResponse {
  struct DeleteAclsMatchingAcl {
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    int8_t resource_type = 0;
    std::string resource_name;
    int8_t pattern_type = 3;  // LITERAL below v1
    std::string principal;
    std::string host;
    int8_t operation = 0;
    int8_t permission_type = 0;
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(error_message, 0);
      v(resource_type, 0);
      v(resource_name, 0);
      v(pattern_type, 1);
      v(principal, 0);
      v(host, 0);
      v(operation, 0);
      v(permission_type, 0);
    }
    bool operator==(const DeleteAclsMatchingAcl&) const = default;
  };
  struct DeleteAclsFilterResult {
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    std::vector<DeleteAclsMatchingAcl> matching_acls;
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(error_message, 0);
      v(matching_acls, 0);
    }
    bool operator==(const DeleteAclsFilterResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<DeleteAclsFilterResult> filter_results;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(filter_results, 0);
  }
  bool operator==(const DeleteAclsResponse&) const = default;
};

struct DeleteAclsRequest {
  static constexpr int16_t api_key = 31, min_version = 0, max_version = 3, flexible_from = 2;
  static constexpr const char* name = "DeleteAcls";
  using Response = DeleteAclsResponse;
  struct DeleteAclsFilter {
    int8_t resource_type_filter = 0;
    std::optional<std::string> resource_name_filter;
    int8_t pattern_type_filter = 3;  // LITERAL below v1
    std::optional<std::string> principal_filter;
    std::optional<std::string> host_filter;
    int8_t operation = 0;
    int8_t permission_type = 0;
    template <class V>
    void visit(V& v) {
      v(resource_type_filter, 0);
      v(resource_name_filter, 0);
      v(pattern_type_filter, 1);
      v(principal_filter, 0);
      v(host_filter, 0);
      v(operation, 0);
      v(permission_type, 0);
    }
    bool operator==(const DeleteAclsFilter&) const = default;
  };
  std::vector<DeleteAclsFilter> filters;
  template <class V>
  void visit(V& v) {
    v(filters, 0);
  }
  bool operator==(const DeleteAclsRequest&) const = default;
};

}  // namespace ferry::protocol
