// AlterPartitionReassignments (key 45) and ListPartitionReassignments (key 46), version 0,
// flexible from 0. Source: Kafka message schemas AlterPartitionReassignments{Request,Response}.json
// and ListPartitionReassignments{Request,Response}.json; KIP-455.
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

struct AlterPartitionReassignmentsResponse {
  struct ReassignablePartitionResponse {
    int32_t partition_index = 0;
    ErrorCode error_code = ErrorCode::NONE;
    std::optional<std::string> error_message;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(error_code, 0);
      v(error_message, 0);
    }
    bool operator==(const ReassignablePartitionResponse&) const = default;
  };
  struct ReassignableTopicResponse {
    std::string name;
    std::vector<ReassignablePartitionResponse> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const ReassignableTopicResponse&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;  // a request-wide error (CLUSTER_AUTHORIZATION_FAILED)
  std::optional<std::string> error_message;
  std::vector<ReassignableTopicResponse> responses;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(error_code, 0);
    v(error_message, 0);
    v(responses, 0);
  }
  bool operator==(const AlterPartitionReassignmentsResponse&) const = default;
};

/// Moves partitions to new replica lists, or cancels (`replicas` null) a move in progress.
struct AlterPartitionReassignmentsRequest {
  static constexpr int16_t api_key = 45, min_version = 0, max_version = 0, flexible_from = 0;
  static constexpr const char* name = "AlterPartitionReassignments";
  using Response = AlterPartitionReassignmentsResponse;
  struct ReassignablePartition {
    int32_t partition_index = 0;
    std::optional<std::vector<int32_t>> replicas;  // the target replicas; null cancels
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(replicas, 0);
    }
    bool operator==(const ReassignablePartition&) const = default;
  };
  struct ReassignableTopic {
    std::string name;
    std::vector<ReassignablePartition> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const ReassignableTopic&) const = default;
  };
  int32_t timeout_ms = 60000;
  std::vector<ReassignableTopic> topics;
  template <class V>
  void visit(V& v) {
    v(timeout_ms, 0);
    v(topics, 0);
  }
  bool operator==(const AlterPartitionReassignmentsRequest&) const = default;
};

struct ListPartitionReassignmentsResponse {
  struct OngoingPartitionReassignment {
    int32_t partition_index = 0;
    std::vector<int32_t> replicas;  // every replica now: the target's, then the leaving ones
    std::vector<int32_t> adding_replicas;
    std::vector<int32_t> removing_replicas;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(replicas, 0);
      v(adding_replicas, 0);
      v(removing_replicas, 0);
    }
    bool operator==(const OngoingPartitionReassignment&) const = default;
  };
  struct OngoingTopicReassignment {
    std::string name;
    std::vector<OngoingPartitionReassignment> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const OngoingTopicReassignment&) const = default;
  };
  int32_t throttle_time_ms = 0;
  ErrorCode error_code = ErrorCode::NONE;
  std::optional<std::string> error_message;
  std::vector<OngoingTopicReassignment> topics;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 0);
    v(error_code, 0);
    v(error_message, 0);
    v(topics, 0);
  }
  bool operator==(const ListPartitionReassignmentsResponse&) const = default;
};

/// The reassignments in progress, of the listed partitions or (`topics` null) of all.
struct ListPartitionReassignmentsRequest {
  static constexpr int16_t api_key = 46, min_version = 0, max_version = 0, flexible_from = 0;
  static constexpr const char* name = "ListPartitionReassignments";
  using Response = ListPartitionReassignmentsResponse;
  struct ListPartitionReassignmentsTopics {
    std::string name;
    std::vector<int32_t> partition_indexes;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partition_indexes, 0);
    }
    bool operator==(const ListPartitionReassignmentsTopics&) const = default;
  };
  int32_t timeout_ms = 60000;
  std::optional<std::vector<ListPartitionReassignmentsTopics>> topics;
  template <class V>
  void visit(V& v) {
    v(timeout_ms, 0);
    v(topics, 0);
  }
  bool operator==(const ListPartitionReassignmentsRequest&) const = default;
};

}  // namespace ferry::protocol
