// Record batch v2 (magic 2) headers and the produce-side validator. Layout per the Kafka protocol
// guide, "Record Batch" (kafka.apache.org/documentation/#recordbatch) and KIP-98.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/storage/crc32c.h"
#include "broker/storage/errc.h"

namespace ferry::storage {

/// Bytes before batchLength's coverage starts: baseOffset i64 + batchLength i32 (Kafka's LOG_OVERHEAD).
inline constexpr size_t kLogOverhead = 12;
/// Fixed size of a v2 batch header, baseOffset through recordCount.
inline constexpr size_t kBatchHeaderSize = 61;
/// Smallest legal batchLength: the header after LOG_OVERHEAD with no records.
inline constexpr int32_t kMinBatchLength = static_cast<int32_t>(kBatchHeaderSize - kLogOverhead);

/// Byte offsets of header fields inside a batch, for in-place rewrites.
namespace batch_field {
inline constexpr size_t base_offset = 0, batch_length = 8, partition_leader_epoch = 12, magic = 16,
                        crc = 17, attributes = 21, last_offset_delta = 23, base_timestamp = 27,
                        max_timestamp = 35, producer_id = 43, producer_epoch = 51,
                        base_sequence = 53, record_count = 57;
}

/// Attribute bits (KIP-98; bit 3 from KIP-32).
namespace batch_attr {
inline constexpr int16_t compression_mask = 0x07, log_append_time = 0x08, transactional = 0x10,
                         control = 0x20, delete_horizon = 0x40;
}

/// One record batch v2 header (61 bytes on disk) as parsed, fields in wire order.
struct BatchHeader {
  int64_t base_offset;
  int32_t batch_length;  ///< bytes after this field, i.e. the batch occupies 12 + batch_length bytes
  int32_t partition_leader_epoch;
  int8_t magic;
  uint32_t crc;  ///< CRC-32C of attributes .. end of batch
  int16_t attributes;
  int32_t last_offset_delta;
  int64_t base_timestamp;  ///< ms since epoch, or -1
  int64_t max_timestamp;   ///< ms since epoch; the append time when timestamp type is LogAppendTime
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  int32_t record_count;

  /// Offset of the batch's last record: base_offset + last_offset_delta.
  int64_t last_offset() const { return base_offset + last_offset_delta; }
  /// Codec id from attribute bits 0-2: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
  int compression() const { return attributes & batch_attr::compression_mask; }
  bool is_transactional() const { return (attributes & batch_attr::transactional) != 0; }
  bool is_control() const { return (attributes & batch_attr::control) != 0; }
  /// True when timestamp type is LogAppendTime: every record's timestamp is max_timestamp.
  bool is_log_append_time() const { return (attributes & batch_attr::log_append_time) != 0; }
  size_t size_in_bytes() const { return kLogOverhead + static_cast<size_t>(batch_length); }
};

/// Parses the header at data[0..n) without validating anything; nullopt when n < 61.
std::optional<BatchHeader> parse_batch_header(const uint8_t* data, size_t n);

/// Outcome of validate_produce_records: on success `batches` holds every batch header in order.
struct ValidationResult {
  errc error = errc::ok;
  std::string message;  ///< why, naming the batch index and offending value; empty on success
  std::vector<BatchHeader> batches;
};

/// Validates a producer's records blob (one or more concatenated v2 batches), mirroring Kafka's
/// LogValidator:
///  - empty blob, control batch, record_count < 1, last_offset_delta != record_count - 1, a record
///    that is malformed (bad varint, negative/overrunning length, offsetDelta not 0..count-1 in
///    order, trailing bytes) or a count that differs from the records present -> invalid_record;
///  - a trailing partial batch or batch_length below 49 -> corrupt_message; a CRC-32C mismatch over
///    attributes..end -> corrupt_message;
///  - magic != 2 -> unsupported_for_message_format;
///  - a batch larger than max_batch_bytes (12 + batch_length) -> message_too_large.
/// Compressed batches are decompressed (see compression.h) only to check their records; an
/// unknown codec or a stream that does not decompress is invalid_record.
ValidationResult validate_produce_records(const uint8_t* data, size_t n, int32_t max_batch_bytes);

/// Recomputes and stores the CRC of the batch at batch[0..size) (size = 12 + batch_length).
void rewrite_batch_crc(uint8_t* batch, size_t size);

/// CRC-32C of the batch at batch[0..size) as Kafka defines it (attributes..end).
uint32_t compute_batch_crc(const uint8_t* batch, size_t size);

}  // namespace ferry::storage
