// Fetch (key 1), versions 4–11, flexible from 12. Source: Kafka message schema
// FetchRequest.json / FetchResponse.json; KIP-98 (v4 isolation level, aborted transactions),
// KIP-107 (v5 log start offset), KIP-227 (v7 fetch sessions), KIP-320 (v9 current leader epoch),
// KIP-392 (v11 rack id, preferred read replica).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct FetchResponse {
  struct AbortedTransaction {
    int64_t producer_id = 0;
    int64_t first_offset = 0;
    template <class V>
    void visit(V& v) {
      v(producer_id, 4);
      v(first_offset, 4);
    }
    bool operator==(const AbortedTransaction&) const = default;
  };
  struct PartitionData {
    int32_t partition_index = 0;
    ErrorCode error_code = ErrorCode::NONE;
    int64_t high_watermark = 0;
    int64_t last_stable_offset = -1;
    int64_t log_start_offset = -1;
    std::optional<std::vector<AbortedTransaction>> aborted_transactions;
    int32_t preferred_read_replica = -1;
    std::optional<Records> records;  ///< the log's bytes, possibly as file slices (records.h)
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(error_code, 0);
      v(high_watermark, 0);
      v(last_stable_offset, 4);
      v(log_start_offset, 5);
      v(aborted_transactions, 4);
      v(preferred_read_replica, 11);
      v(records, 0);
    }
    bool operator==(const PartitionData&) const = default;
  };
  struct FetchableTopicResponse {
    std::string topic;
    std::vector<PartitionData> partitions;
    template <class V>
    void visit(V& v) {
      v(topic, 0, 12);  // replaced by TopicId from v13 (KIP-516)
      v(partitions, 0);
    }
    bool operator==(const FetchableTopicResponse&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  int32_t session_id = 0;
  std::vector<FetchableTopicResponse> responses;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 1);
    v(error_code, 7);
    v(session_id, 7);
    v(responses, 0);
  }
  bool operator==(const FetchResponse&) const = default;
};

struct FetchRequest {
  static constexpr int16_t api_key = 1, min_version = 4, max_version = 11, flexible_from = 12;
  static constexpr const char* name = "Fetch";
  using Response = FetchResponse;
  struct FetchPartition {
    int32_t partition = 0;
    int32_t current_leader_epoch = -1;
    int64_t fetch_offset = 0;
    int64_t log_start_offset = -1;
    int32_t partition_max_bytes = 0;
    template <class V>
    void visit(V& v) {
      v(partition, 0);
      v(current_leader_epoch, 9);
      v(fetch_offset, 0);
      v(log_start_offset, 5);
      v(partition_max_bytes, 0);
    }
    bool operator==(const FetchPartition&) const = default;
  };
  struct FetchTopic {
    std::string topic;
    std::vector<FetchPartition> partitions;
    template <class V>
    void visit(V& v) {
      v(topic, 0, 12);  // replaced by TopicId from v13 (KIP-516)
      v(partitions, 0);
    }
    bool operator==(const FetchTopic&) const = default;
  };
  struct ForgottenTopic {
    std::string topic;
    std::vector<int32_t> partitions;
    template <class V>
    void visit(V& v) {
      v(topic, 7, 12);  // replaced by TopicId from v13 (KIP-516)
      v(partitions, 7);
    }
    bool operator==(const ForgottenTopic&) const = default;
  };
  int32_t replica_id = -1;
  int32_t max_wait_ms = 0;
  int32_t min_bytes = 0;
  int32_t max_bytes = 0x7fffffff;
  int8_t isolation_level = 0;
  int32_t session_id = 0;
  int32_t session_epoch = -1;
  std::vector<FetchTopic> topics;
  std::vector<ForgottenTopic> forgotten_topics_data;
  std::string rack_id;
  template <class V>
  void visit(V& v) {
    v(replica_id, 0, 14);  // moved into the ReplicaState tagged field from v15 (KIP-903)
    v(max_wait_ms, 0);
    v(min_bytes, 0);
    v(max_bytes, 3);
    v(isolation_level, 4);
    v(session_id, 7);
    v(session_epoch, 7);
    v(topics, 0);
    v(forgotten_topics_data, 7);
    v(rack_id, 11);
  }
  bool operator==(const FetchRequest&) const = default;
};

}  // namespace ferry::protocol
