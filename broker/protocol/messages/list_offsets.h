// ListOffsets (key 2), versions 1–3, flexible from 6. Source: Kafka message schema
// ListOffsetsRequest.json / ListOffsetsResponse.json; KIP-79 (v1, offsets by timestamp),
// KIP-98 (v2 isolation level). Timestamp -1 = latest, -2 = earliest, -3 = max timestamp (KIP-734).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct ListOffsetsResponse {
  struct ListOffsetsPartitionResponse {
    int32_t partition_index = 0;
    ErrorCode error_code = ErrorCode::NONE;
    int64_t timestamp = -1;
    int64_t offset = -1;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(error_code, 0);
      v(timestamp, 1);
      v(offset, 1);
    }
    bool operator==(const ListOffsetsPartitionResponse&) const = default;
  };
  struct ListOffsetsTopicResponse {
    std::string name;
    std::vector<ListOffsetsPartitionResponse> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const ListOffsetsTopicResponse&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<ListOffsetsTopicResponse> topics;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 2);
    v(topics, 0);
  }
  bool operator==(const ListOffsetsResponse&) const = default;
};

struct ListOffsetsRequest {
  static constexpr int16_t api_key = 2, min_version = 1, max_version = 3, flexible_from = 6;
  static constexpr const char* name = "ListOffsets";
  using Response = ListOffsetsResponse;
  static constexpr int64_t kLatest = -1, kEarliest = -2, kMaxTimestamp = -3;
  struct ListOffsetsPartition {
    int32_t partition_index = 0;
    int64_t timestamp = 0;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(timestamp, 0);
    }
    bool operator==(const ListOffsetsPartition&) const = default;
  };
  struct ListOffsetsTopic {
    std::string name;
    std::vector<ListOffsetsPartition> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const ListOffsetsTopic&) const = default;
  };
  int32_t replica_id = -1;
  int8_t isolation_level = 0;
  std::vector<ListOffsetsTopic> topics;
  template <class V>
  void visit(V& v) {
    v(replica_id, 0);
    v(isolation_level, 2);
    v(topics, 0);
  }
  bool operator==(const ListOffsetsRequest&) const = default;
};

}  // namespace ferry::protocol
