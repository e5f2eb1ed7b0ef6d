// Writing record batch v2 (Kafka protocol guide, "Record Batch" and "Record"): the pieces the
// cleaner needs to re-encode a thinned batch, and a builder for batches the broker writes itself
// (the group coordinator's __consumer_offsets records). Producers' batches are never re-encoded.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "broker/storage/record_batch.h"

namespace ferry::storage {

/// Appends `v` as Kafka's zig-zag varlong (the record format's varint and varlong share it).
void put_varlong(std::vector<uint8_t>& out, int64_t v);

/// Appends a record's length-prefixed field (key, value): varint length, then the bytes;
/// `len` -1 writes a null field.
void put_field(std::vector<uint8_t>& out, const uint8_t* p, int32_t len);

/// Completes a batch whose records section already follows kBatchHeaderSize reserved bytes in
/// `batch`: writes every header field (magic 2; base offset, leader epoch, last offset delta and
/// producer fields from `h`; the given attributes, timestamps and record count), the batch
/// length, then the CRC-32C.
void seal_batch(std::vector<uint8_t>& batch, const BatchHeader& h, int16_t attributes, int64_t base_ts,
                int64_t max_ts, int32_t record_count);

/// One record of a batch the broker writes: nullopt key or value writes null (a null value is a
/// tombstone on a compacted topic). No headers.
struct NewRecord {
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
};

/// An uncompressed CreateTime batch of `records` (at least one), all stamped `timestamp_ms`,
/// written as a non-idempotent producer would (producer id -1, base offset 0: the log assigns
/// offsets). The result passes validate_produce_records.
std::vector<uint8_t> build_batch(const std::vector<NewRecord>& records, int64_t timestamp_ms);

}  // namespace ferry::storage
