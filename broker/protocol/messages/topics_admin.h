// Topic administration: CreateTopics (key 19, v2–4, flexible from 5), DeleteTopics (key 20,
// v1–3, flexible from 4), CreatePartitions (key 37, v0–1, flexible from 2), DeleteRecords
// (key 21, v0–1, flexible from 2). Source: the Kafka message schemas of the same names; KIP-4
// (create/delete topics), KIP-195 (create partitions), KIP-107 (delete records).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct CreateTopicsResponse {
  struct CreatableTopicResult {
    std::string name;
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(error_code, 0);
      v(error_message, 1);
    }
    bool operator==(const CreatableTopicResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<CreatableTopicResult> topics;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 2);
    v(topics, 0);
  }
  bool operator==(const CreateTopicsResponse&) const = default;
};

struct CreateTopicsRequest {
  static constexpr int16_t api_key = 19, min_version = 2, max_version = 4, flexible_from = 5;
  static constexpr const char* name = "CreateTopics";
  using Response = CreateTopicsResponse;
  struct CreatableReplicaAssignment {
    int32_t partition_index = 0;
    std::vector<int32_t> broker_ids;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(broker_ids, 0);
    }
    bool operator==(const CreatableReplicaAssignment&) const = default;
  };
  struct CreatableTopicConfig {
    std::string name;
    std::optional<std::string> value;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(value, 0);
    }
    bool operator==(const CreatableTopicConfig&) const = default;
  };
  struct CreatableTopic {
    std::string name;
    int32_t num_partitions = 0;
    int16_t replication_factor = 0;
    std::vector<CreatableReplicaAssignment> assignments;
    std::vector<CreatableTopicConfig> configs;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(num_partitions, 0);
      v(replication_factor, 0);
      v(assignments, 0);
      v(configs, 0);
    }
    bool operator==(const CreatableTopic&) const = default;
  };
  std::vector<CreatableTopic> topics;
  int32_t timeout_ms = 60000;
  bool validate_only = false;
  template <class V>
  void visit(V& v) {
    v(topics, 0);
    v(timeout_ms, 0);
    v(validate_only, 1);
  }
  bool operator==(const CreateTopicsRequest&) const = default;
};

struct DeleteTopicsResponse {
  struct DeletableTopicResult {
    std::string name;
    ErrorCode error_code = ErrorCode::NONE;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(error_code, 0);
    }
    bool operator==(const DeletableTopicResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<DeletableTopicResult> responses;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 1);
    v(responses, 0);
  }
  bool operator==(const DeleteTopicsResponse&) const = default;
};

struct DeleteTopicsRequest {
  static constexpr int16_t api_key = 20, min_version = 1, max_version = 3, flexible_from = 4;
  static constexpr const char* name = "DeleteTopics";
  using Response = DeleteTopicsResponse;
  std::vector<std::string> topic_names;
  int32_t timeout_ms = 0;
  template <class V>
  void visit(V& v) {
    v(topic_names, 0, 5);  // replaced by Topics (name or id) from v6 (KIP-516)
    v(timeout_ms, 0);
  }
  bool operator==(const DeleteTopicsRequest&) const = default;
};

struct CreatePartitionsResponse {
  struct CreatePartitionsTopicResult {
    std::string name;
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(error_code, 0);
      v(error_message, 0);
    }
    bool operator==(const CreatePartitionsTopicResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<CreatePartitionsTopicResult> results;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(results, 0);
  }
  bool operator==(const CreatePartitionsResponse&) const = default;
};

struct CreatePartitionsRequest {
  static constexpr int16_t api_key = 37, min_version = 0, max_version = 1, flexible_from = 2;
  static constexpr const char* name = "CreatePartitions";
  using Response = CreatePartitionsResponse;
  struct CreatePartitionsAssignment {
    std::vector<int32_t> broker_ids;
    template <class V>
    void visit(V& v) {
      v(broker_ids, 0);
    }
    bool operator==(const CreatePartitionsAssignment&) const = default;
  };
  struct CreatePartitionsTopic {
    std::string name;
    int32_t count = 0;
    std::optional<std::vector<CreatePartitionsAssignment>> assignments;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(count, 0);
      v(assignments, 0);
    }
    bool operator==(const CreatePartitionsTopic&) const = default;
  };
  std::vector<CreatePartitionsTopic> topics;
  int32_t timeout_ms = 0;
  bool validate_only = false;
  template <class V>
  void visit(V& v) {
    v(topics, 0);
    v(timeout_ms, 0);
    v(validate_only, 0);
  }
  bool operator==(const CreatePartitionsRequest&) const = default;
};

struct DeleteRecordsResponse {
  struct DeleteRecordsPartitionResult {
    int32_t partition_index = 0;
    int64_t low_watermark = 0;
    ErrorCode error_code = ErrorCode::NONE;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(low_watermark, 0);
      v(error_code, 0);
    }
    bool operator==(const DeleteRecordsPartitionResult&) const = default;
  };
  struct DeleteRecordsTopicResult {
    std::string name;
    std::vector<DeleteRecordsPartitionResult> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const DeleteRecordsTopicResult&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<DeleteRecordsTopicResult> topics;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(topics, 0);
  }
  bool operator==(const DeleteRecordsResponse&) const = default;
};

struct DeleteRecordsRequest {
  static constexpr int16_t api_key = 21, min_version = 0, max_version = 1, flexible_from = 2;
  static constexpr const char* name = "DeleteRecords";
  using Response = DeleteRecordsResponse;
  struct DeleteRecordsPartition {
    int32_t partition_index = 0;
    int64_t offset = 0;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(offset, 0);
    }
    bool operator==(const DeleteRecordsPartition&) const = default;
  };
  struct DeleteRecordsTopic {
    std::string name;
    std::vector<DeleteRecordsPartition> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const DeleteRecordsTopic&) const = default;
  };
  std::vector<DeleteRecordsTopic> topics;
  int32_t timeout_ms = 0;
  template <class V>
  void visit(V& v) {
    v(topics, 0);
    v(timeout_ms, 0);
  }
  bool operator==(const DeleteRecordsRequest&) const = default;
};

}  // namespace ferry::protocol
