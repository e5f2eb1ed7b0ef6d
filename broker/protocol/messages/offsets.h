// Committed consumer offsets: OffsetCommit (key 8, v2–7, flexible from 8), OffsetFetch (key 9,
// v1–7, flexible from 6), OffsetDelete (key 47, v0, never flexible). Source: the Kafka message
// schemas of the same names; KIP-211 (OffsetCommit v5 drops RetentionTimeMs), KIP-320 (committed
// leader epochs), KIP-345 (OffsetCommit v7 GroupInstanceId), KIP-447 (OffsetFetch v7
// RequireStable), KIP-496 (OffsetDelete).
#pragma once

#include "broker/protocol/errors.h"
#include "broker/protocol/schema.h"

namespace ferry::protocol {

/// One error per committed partition, in request order.
struct OffsetCommitResponse {
  struct OffsetCommitResponsePartition {
    int32_t partition_index = 0;
    ErrorCode error_code = ErrorCode::NONE;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(error_code, 0);
    }
    bool operator==(const OffsetCommitResponsePartition&) const = default;
  };
  struct OffsetCommitResponseTopic {
    std::string name;
    std::vector<OffsetCommitResponsePartition> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const OffsetCommitResponseTopic&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<OffsetCommitResponseTopic> topics;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 3);
    v(topics, 0);
  }
  bool operator==(const OffsetCommitResponse&) const = default;
};

/// Commits offsets for a group. A generation of -1 with an empty member id is a "simple"
/// commit from a client outside any rebalance (admin tools resetting offsets).
/// `retention_time_ms` (v2–4) of -1 means the broker's offsets.retention.minutes.
struct OffsetCommitRequest {
  static constexpr int16_t api_key = 8, min_version = 2, max_version = 7, flexible_from = 8;
  static constexpr const char* name = "OffsetCommit";
  using Response = OffsetCommitResponse;
  struct OffsetCommitRequestPartition {
    int32_t partition_index = 0;
    int64_t committed_offset = 0;
    int32_t committed_leader_epoch = -1;
    int64_t commit_timestamp = -1;
    std::optional<std::string> committed_metadata;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(committed_offset, 0);
      v(committed_leader_epoch, 6);
      v(commit_timestamp, 1, 1);  // v1 only, below Ferry's range
      v(committed_metadata, 0);
    }
    bool operator==(const OffsetCommitRequestPartition&) const = default;
  };
  struct OffsetCommitRequestTopic {
    std::string name;
    std::vector<OffsetCommitRequestPartition> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const OffsetCommitRequestTopic&) const = default;
  };
  std::string group_id;
  int32_t generation_id_or_member_epoch = -1;  // "GenerationId" in Kafka releases before KIP-848
  std::string member_id;
  std::optional<std::string> group_instance_id;
  int64_t retention_time_ms = -1;
  std::vector<OffsetCommitRequestTopic> topics;
  template <class V>
  void visit(V& v) {
    v(group_id, 0);
    v(generation_id_or_member_epoch, 1);
    v(member_id, 1);
    v(group_instance_id, 7);
    v(retention_time_ms, 2, 4);
    v(topics, 0);
  }
  bool operator==(const OffsetCommitRequest&) const = default;
};

/// Committed offsets per requested partition; committed_offset -1 means none is committed.
/// `error_code` at the top level exists from v2 (group or coordinator errors).
struct OffsetFetchResponse {
  struct OffsetFetchResponsePartition {
    int32_t partition_index = 0;
    int64_t committed_offset = 0;
    int32_t committed_leader_epoch = -1;
    std::optional<std::string> metadata;
    ErrorCode error_code = ErrorCode::NONE;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0, 7);
      v(committed_offset, 0, 7);
      v(committed_leader_epoch, 5, 7);
      v(metadata, 0, 7);
      v(error_code, 0, 7);
    }
    bool operator==(const OffsetFetchResponsePartition&) const = default;
  };
  struct OffsetFetchResponseTopic {
    std::string name;
    std::vector<OffsetFetchResponsePartition> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0, 7);
      v(partitions, 0, 7);
    }
    bool operator==(const OffsetFetchResponseTopic&) const = default;
  };
  int32_t throttle_time_ms = 0;
  std::vector<OffsetFetchResponseTopic> topics;
  ErrorCode error_code = ErrorCode::NONE;
  template <class V>
  void visit(V& v) {
    v(throttle_time_ms, 3);
    v(topics, 0, 7);  // replaced by per-group results (Groups) from v8
    v(error_code, 2, 7);
  }
  bool operator==(const OffsetFetchResponse&) const = default;
};

/// Reads a group's committed offsets. From v2 a null `topics` asks for every partition the group
/// has committed; v1 has no null. `topics` defaults to an empty list, Kafka's default for an
/// array without a "default", which is valid at every version.
struct OffsetFetchRequest {
  static constexpr int16_t api_key = 9, min_version = 1, max_version = 7, flexible_from = 6;
  static constexpr const char* name = "OffsetFetch";
  using Response = OffsetFetchResponse;
  struct OffsetFetchRequestTopic {
    std::string name;
    std::vector<int32_t> partition_indexes;
    template <class V>
    void visit(V& v) {
      v(name, 0, 7);
      v(partition_indexes, 0, 7);
    }
    bool operator==(const OffsetFetchRequestTopic&) const = default;
  };
  std::string group_id;
  std::optional<std::vector<OffsetFetchRequestTopic>> topics = std::vector<OffsetFetchRequestTopic>{};
  bool require_stable = false;
  template <class V>
  void visit(V& v) {
    v(group_id, 0, 7);  // replaced by Groups (several groups per request) from v8
    v(topics, 0, 7);
    v(require_stable, 7);
  }
  bool operator==(const OffsetFetchRequest&) const = default;
};

/// The top-level error applies to the whole group; partition errors to single partitions.
struct OffsetDeleteResponse {
  struct OffsetDeleteResponsePartition {
    int32_t partition_index = 0;
    ErrorCode error_code = ErrorCode::NONE;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
      v(error_code, 0);
    }
    bool operator==(const OffsetDeleteResponsePartition&) const = default;
  };
  struct OffsetDeleteResponseTopic {
    std::string name;
    std::vector<OffsetDeleteResponsePartition> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const OffsetDeleteResponseTopic&) const = default;
  };
  ErrorCode error_code = ErrorCode::NONE;
  int32_t throttle_time_ms = 0;
  std::vector<OffsetDeleteResponseTopic> topics;
  template <class V>
  void visit(V& v) {
    v(error_code, 0);
    v(throttle_time_ms, 0);
    v(topics, 0);
  }
  bool operator==(const OffsetDeleteResponse&) const = default;
};

/// Deletes committed offsets of partitions a group no longer consumes. The JSON's
/// flexibleVersions is "none": no version is flexible, so flexible_from is kMaxVersion.
struct OffsetDeleteRequest {
  static constexpr int16_t api_key = 47, min_version = 0, max_version = 0,
                           flexible_from = kMaxVersion;
  static constexpr const char* name = "OffsetDelete";
  using Response = OffsetDeleteResponse;
  struct OffsetDeleteRequestPartition {
    int32_t partition_index = 0;
    template <class V>
    void visit(V& v) {
      v(partition_index, 0);
    }
    bool operator==(const OffsetDeleteRequestPartition&) const = default;
  };
  struct OffsetDeleteRequestTopic {
    std::string name;
    std::vector<OffsetDeleteRequestPartition> partitions;
    template <class V>
    void visit(V& v) {
      v(name, 0);
      v(partitions, 0);
    }
    bool operator==(const OffsetDeleteRequestTopic&) const = default;
  };
  std::string group_id;
  std::vector<OffsetDeleteRequestTopic> topics;
  template <class V>
  void visit(V& v) {
    v(group_id, 0);
    v(topics, 0);
  }
  bool operator==(const OffsetDeleteRequest&) const = default;
};

}  // namespace ferry::protocol
