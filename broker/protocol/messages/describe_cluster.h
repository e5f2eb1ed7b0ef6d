// DescribeCluster (key 60), version 0, flexible from 0. Source: Kafka message schema
// DescribeClusterRequest.json / DescribeClusterResponse.json; KIP-700.
#pragma once

#include <climits>

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct DescribeClusterResponse {
  struct DescribeClusterBroker {
    int32_t broker_id = 0;
    std::string host;
    int32_t port = 0;
    std::optional<std::string> rack;
    template <class V>
    void visit(V& v) {
      v(broker_id, 0);
      v(host, 0);
      v(port, 0);
      v(rack, 0);
    }
    bool operator==(const DescribeClusterBroker&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  std::optional<std::string> error_message;
  std::string cluster_id;
  int32_t controller_id = -1;
  std::vector<DescribeClusterBroker> brokers;
  int32_t cluster_authorized_operations = INT32_MIN;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(error_code, 0);
    v(error_message, 0);
    v(cluster_id, 0);
    v(controller_id, 0);
    v(brokers, 0);
    v(cluster_authorized_operations, 0);
  }
  bool operator==(const DescribeClusterResponse&) const = default;
};

struct DescribeClusterRequest {
  static constexpr int16_t api_key = 60, min_version = 0, max_version = 0, flexible_from = 0;
  static constexpr const char* name = "DescribeCluster";
  using Response = DescribeClusterResponse;
  bool include_cluster_authorized_operations = false;
  template <class V>
  void visit(V& v) {
    v(include_cluster_authorized_operations, 0);
  }
  bool operator==(const DescribeClusterRequest&) const = default;
};

}  // namespace ferry::protocol
