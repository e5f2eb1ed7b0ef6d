// Produce (key 0), versions 3–8 (magic-2 record batches only), flexible from 9. Source: Kafka
// message schema ProduceRequest.json / ProduceResponse.json; KIP-98 (v3, transactional id),
// KIP-107 (v5 log start offset), KIP-467 (v8 record_errors,
// error_message). Records are the raw record-batch bytes as the client sent them.
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct ProduceResponse {
  /// One refused record of a batch (v8+, KIP-467): its index within the partition's batch and
  /// why (Kafka's ProduceResponse.RecordError, LogValidator).
  struct BatchIndexAndErrorMessage {
    int32_t batch_index = 0;
    std::optional<std::string> batch_index_error_message;
    template <class V>
    void visit(V& v) {
      v(batch_index, 8);
      v(batch_index_error_message, 8);
    }
    bool operator==(const BatchIndexAndErrorMessage&) const = default;
  };
  struct PartitionProduceResponse {
    int32_t index = 0;
    ErrorCode error_code = ErrorCode::NONE;
    int64_t base_offset = 0;
    int64_t log_append_time_ms = -1;
    int64_t log_start_offset = -1;
    std::vector<BatchIndexAndErrorMessage> record_errors;  ///< v8+ (KIP-467)
    std::optional<std::string> error_message;              ///< v8+ (KIP-467); null when none
    template <class V>
    void visit(V& v) {
      v(index, 0);
      v(error_code, 0);
      v(base_offset, 0);
      v(log_append_time_ms, 2);
      v(log_start_offset, 5);
      v(record_errors, 8);
      v(error_message, 8);
    }
    bool operator==(const PartitionProduceResponse&) const = default;
  };
  struct TopicProduceResponse {
    std::string name;
    std::vector<PartitionProduceResponse> partition_responses;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partition_responses, 0);
    }
    bool operator==(const TopicProduceResponse&) const = default;
  };
  std::vector<TopicProduceResponse> responses;
  int32_t throttle_time_ms = 0;
  template <class V>
  void visit(V& v) {
    v(responses, 0);
    v(throttle_time_ms, 1);
  }
  bool operator==(const ProduceResponse&) const = default;
};

struct ProduceRequest {
  static constexpr int16_t api_key = 0, min_version = 3, max_version = 8, flexible_from = 9;
  static constexpr const char* name = "Produce";
  using Response = ProduceResponse;
  struct PartitionProduceData {
    int32_t index = 0;
    std::optional<Bytes> records;
    template <class V>
    void visit(V& v) {
      v(index, 0);
      v(records, 0);
    }
    bool operator==(const PartitionProduceData&) const = default;
  };
  struct TopicProduceData {
    std::string name;
    std::vector<PartitionProduceData> partition_data;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partition_data, 0);
    }
    bool operator==(const TopicProduceData&) const = default;
  };
  std::optional<std::string> transactional_id;
  int16_t acks = 0;
  int32_t timeout_ms = 0;
  std::vector<TopicProduceData> topic_data;
  template <class V>
  void visit(V& v) {
    v(transactional_id, 3);
    v(acks, 0);
    v(timeout_ms, 0);
    v(topic_data, 0);
  }
  bool operator==(const ProduceRequest&) const = default;
};

}  // namespace ferry::protocol
