// Metadata (key 3), versions 0–6, flexible from 9 (outside Ferry's range). Source: Kafka message
// schema MetadataRequest.json / MetadataResponse.json. v0: an empty topic list means "all topics";
// v1+: null means all topics and empty means none. AllowAutoTopicCreation from v4 (KIP-204).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct MetadataResponse {
  struct MetadataResponseBroker {
    int32_t node_id = 0;
    std::string host;
    int32_t port = 0;
    std::optional<std::string> rack;
    template <class V>
    void visit(V& v) {
      v(node_id, 0);
      v(host, 0);
      v(port, 0);
      v(rack, 1);
    }
    bool operator==(const MetadataResponseBroker&) const = default;
  };
  struct MetadataResponsePartition {
    ErrorCode error_code = ErrorCode::NONE;
    int32_t partition_index = 0;
    int32_t leader_id = 0;
    int32_t leader_epoch = -1;
    std::vector<int32_t> replica_nodes;
    std::vector<int32_t> isr_nodes;
    std::vector<int32_t> offline_replicas;
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(partition_index, 0);
      v(leader_id, 0);
      v(leader_epoch, 7);
      v(replica_nodes, 0);
      v(isr_nodes, 0);
      v(offline_replicas, 5);
    }
    bool operator==(const MetadataResponsePartition&) const = default;
  };
  struct MetadataResponseTopic {
    ErrorCode error_code = ErrorCode::NONE;
    std::string name;
    bool is_internal = false;
    std::vector<MetadataResponsePartition> partitions;
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(name, 0);
      v(is_internal, 1);
      v(partitions, 0);
    }
    bool operator==(const MetadataResponseTopic&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<MetadataResponseBroker> brokers;
  std::optional<std::string> cluster_id;
  int32_t controller_id = -1;
  std::vector<MetadataResponseTopic> topics;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 3);
    v(brokers, 0);
    v(cluster_id, 2);
    v(controller_id, 1);
    v(topics, 0);
  }
  bool operator==(const MetadataResponse&) const = default;
};

struct MetadataRequest {
  static constexpr int16_t api_key = 3, min_version = 0, max_version = 6, flexible_from = 9;
  static constexpr const char* name = "Metadata";
  using Response = MetadataResponse;
  struct MetadataRequestTopic {
    std::string name;
    template <class V>
    void visit(V& v) {
      v(name, 0);
    }
    bool operator==(const MetadataRequestTopic&) const = default;
  };
  std::optional<std::vector<MetadataRequestTopic>> topics;  // null (v1+) = all topics
  bool allow_auto_topic_creation = true;
  template <class V>
  void visit(V& v) {
    v(topics, 0);
    v(allow_auto_topic_creation, 4);
  }
  bool operator==(const MetadataRequest&) const = default;
};

}  // namespace ferry::protocol
