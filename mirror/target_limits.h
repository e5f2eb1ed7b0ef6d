// What a target topic accepts in one produce, and the producer settings that respect it (issue 13,
// defect 2). Kafka refuses a record batch larger than the topic's `segment.bytes`
// (RECORD_LIST_TOO_LARGE, UnifiedLog.append) or `max.message.bytes` (MESSAGE_TOO_LARGE,
// LogValidator), both measured on the batch as written (v2 format, 61-byte header included).
// librdkafka's `batch.size` is one value per producer, so the mirror keeps one producer per
// distinct limit. Pure: no librdkafka here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ferry::mirror {

/// Bytes of a v2 record batch header (Kafka protocol guide, "Record Batch": baseOffset .. records
/// count, DefaultRecordBatch.RECORD_BATCH_OVERHEAD).
inline constexpr int64_t kRecordBatchOverhead = 61;

/// librdkafka's default `batch.size` (bytes) and `message.max.bytes` (its CONFIGURATION.md).
inline constexpr int64_t kLibrdkafkaDefaultBatchSize = 1'000'000;
inline constexpr int64_t kLibrdkafkaDefaultMessageMaxBytes = 1'000'000;

/// Sizes of one record header: name and value bytes (a null value counts as 0 and still encodes).
struct HeaderSize {
  size_t name = 0;
  std::optional<size_t> value;
};

/// Exact size in bytes of a v2 record batch holding this one record, uncompressed, as a producer
/// writes it (timestamp and offset deltas 0): header + varint-framed record (Kafka protocol guide,
/// "Record": length, attributes, timestampDelta, offsetDelta, key, value, headers; zigzag
/// varints). `key` / `value` nullopt: a null key / value.
int64_t single_record_batch_bytes(std::optional<size_t> key, std::optional<size_t> value,
                                  const std::vector<HeaderSize>& headers);

/// The limits of one target topic, in bytes, from its effective configuration.
struct TargetLimits {
  int64_t segment_bytes = INT64_MAX;
  int64_t max_message_bytes = INT64_MAX;
  /// The largest record batch the topic accepts: min(segment.bytes, max.message.bytes).
  int64_t batch_limit() const { return segment_bytes < max_message_bytes ? segment_bytes : max_message_bytes; }
  /// Which of the two keys sets batch_limit(), for messages.
  const char* limiting_key() const { return segment_bytes < max_message_bytes ? "segment.bytes" : "max.message.bytes"; }
  /// The error Kafka answers a batch over batch_limit() with: RECORD_LIST_TOO_LARGE for
  /// segment.bytes (UnifiedLog.append), MESSAGE_TOO_LARGE for max.message.bytes (LogValidator).
  const char* refusal_error() const {
    return segment_bytes < max_message_bytes ? "RECORD_LIST_TOO_LARGE" : "MESSAGE_TOO_LARGE";
  }
  bool operator==(const TargetLimits&) const = default;
};

/// Reads `segment.bytes` and `max.message.bytes` from a topic's configuration (DescribeConfigs,
/// defaults included); a key absent or not a positive integer leaves that limit unbounded.
TargetLimits target_limits_from_configs(const std::map<std::string, std::string>& configs);

/// librdkafka `batch.size` for a producer writing to a topic with these limits: nullopt when the
/// default (kLibrdkafkaDefaultBatchSize) already fits, else the largest value whose batches stay
/// within batch_limit(). librdkafka bounds `batch.size` on its own per-record estimate, which can
/// exceed the exact size by up to 20 bytes per record, and leaves the 61-byte header out, so the
/// value is batch_limit() - 61 - 64, at least 1 (a single record is always sent alone when larger).
std::optional<int64_t> producer_batch_size(const TargetLimits& limits);

/// librdkafka `message.max.bytes` for the same producer: at least its default, and large enough
/// that librdkafka never refuses locally a record the target would accept.
int64_t producer_message_max_bytes(const TargetLimits& limits);

}  // namespace ferry::mirror
