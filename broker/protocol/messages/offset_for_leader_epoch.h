// OffsetForLeaderEpoch (key 23), versions 0–4, flexible from 4. Source: Kafka message schema
// OffsetForLeaderEpochRequest.json / OffsetForLeaderEpochResponse.json; KIP-101 (v0), KIP-279
// (v1: the answer names the epoch it found), KIP-320 (v2: CurrentLeaderEpoch fencing, throttle
// time), v3 ReplicaId (followers send their broker id, others -2 or -1), v4 flexible (KIP-482).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct OffsetForLeaderEpochResponse {
  struct EpochEndOffset {
    ErrorCode error_code = ErrorCode::NONE;
    int32_t partition = 0;
    int32_t leader_epoch = -1;
    int64_t end_offset = -1;
    template <class V>
    void visit(V& v) {
      v(error_code, 0);  // before Partition, as in the schema
      v(partition, 0);
      v(leader_epoch, 1);
      v(end_offset, 0);
    }
    bool operator==(const EpochEndOffset&) const = default;
  };
  struct OffsetForLeaderTopicResult {
    std::string topic;
    std::vector<EpochEndOffset> partitions;
    template <class V>
    void visit(V& v) {
      v(topic, 0);
      v(partitions, 0);
    }
    bool operator==(const OffsetForLeaderTopicResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<OffsetForLeaderTopicResult> topics;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 2);
    v(topics, 0);
  }
  bool operator==(const OffsetForLeaderEpochResponse&) const = default;
};

struct OffsetForLeaderEpochRequest {
  static constexpr int16_t api_key = 23, min_version = 0, max_version = 4, flexible_from = 4;
  static constexpr const char* name = "OffsetForLeaderEpoch";
  using Response = OffsetForLeaderEpochResponse;
  /// ReplicaId of a consumer (-1) and the default of a request without one (-2, also v0–2).
  static constexpr int32_t kConsumerReplicaId = -1, kDebuggingReplicaId = -2;
  struct OffsetForLeaderPartition {
    int32_t partition = 0;
    int32_t current_leader_epoch = -1;  // -1: no fencing
    int32_t leader_epoch = 0;
    template <class V>
    void visit(V& v) {
      v(partition, 0);
      v(current_leader_epoch, 2);
      v(leader_epoch, 0);
    }
    bool operator==(const OffsetForLeaderPartition&) const = default;
  };
  struct OffsetForLeaderTopic {
    std::string topic;
    std::vector<OffsetForLeaderPartition> partitions;
    template <class V>
    void visit(V& v) {
      v(topic, 0);
      v(partitions, 0);
    }
    bool operator==(const OffsetForLeaderTopic&) const = default;
  };
  int32_t replica_id = kDebuggingReplicaId;
  std::vector<OffsetForLeaderTopic> topics;
  template <class V>
  void visit(V& v) {
    v(replica_id, 3);
    v(topics, 0);
  }
  bool operator==(const OffsetForLeaderEpochRequest&) const = default;
};

}  // namespace ferry::protocol
