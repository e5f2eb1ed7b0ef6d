// Metadata (key 3), versions 0–12, flexible from 9 (KIP-482). Source: Kafka message schema
// MetadataRequest.json / MetadataResponse.json. v0: an empty topic list means "all topics";
// v1+: null means all topics and empty means none. AllowAutoTopicCreation from v4 (KIP-204);
// LeaderEpoch from v7 (KIP-320); authorized operations from v8 (KIP-430; the cluster's only up to
// v10, DescribeCluster carries it after that, KIP-700); TopicId from v10 (KIP-516); a topic may be
// named by id alone (null name) from v12.
#pragma once

#include <climits>

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
    std::optional<std::string> name;  // null only at v12+, for a topic id the broker does not know
    Uuid topic_id;                    // v10+; all zero when unknown
    bool is_internal = false;
    std::vector<MetadataResponsePartition> partitions;
    int32_t topic_authorized_operations = INT32_MIN;  // v8+ bitfield (KIP-430); INT32_MIN = not asked
    template <class V>
    void visit(V& v) {
      v(error_code, 0);
      v(name, 0);
      v(topic_id, 10);
      v(is_internal, 1);
      v(partitions, 0);
      v(topic_authorized_operations, 8);
    }
    bool operator==(const MetadataResponseTopic&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<MetadataResponseBroker> brokers;
  std::optional<std::string> cluster_id;
  int32_t controller_id = -1;
  std::vector<MetadataResponseTopic> topics;
  int32_t cluster_authorized_operations = INT32_MIN;  // v8-v10 bitfield (KIP-430); INT32_MIN = not asked
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 3);
    v(brokers, 0);
    v(cluster_id, 2);
    v(controller_id, 1);
    v(topics, 0);
    v(cluster_authorized_operations, 8, 10);
  }
  bool operator==(const MetadataResponse&) const = default;
};

struct MetadataRequest {
  static constexpr int16_t api_key = 3, min_version = 0, max_version = 12, flexible_from = 9;
  static constexpr const char* name = "Metadata";
  using Response = MetadataResponse;
  struct MetadataRequestTopic {
    Uuid topic_id;                    // v10+; all zero unless the topic is asked for by id (v12+)
    std::optional<std::string> name;  // null allowed from v10 (a lookup by id, served from v12)
    template <class V>
    void visit(V& v) {
      v(topic_id, 10);
      v(name, 0);
    }
    bool operator==(const MetadataRequestTopic&) const = default;
  };
  std::optional<std::vector<MetadataRequestTopic>> topics;  // null (v1+) = all topics
  bool allow_auto_topic_creation = true;
  bool include_cluster_authorized_operations = false;  // v8-v10
  bool include_topic_authorized_operations = false;    // v8+
  template <class V>
  void visit(V& v) {
    v(topics, 0);
    v(allow_auto_topic_creation, 4);
    v(include_cluster_authorized_operations, 8, 10);
    v(include_topic_authorized_operations, 8);
  }
  bool operator==(const MetadataRequest&) const = default;
};

}  // namespace ferry::protocol
