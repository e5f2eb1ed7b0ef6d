// Walking the records inside one v2 batch (Kafka protocol guide, "Record" and "Record Header"),
// decompressing first when the batch is compressed. Used by the validator and by timestamp search.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "broker/storage/record_batch.h"

namespace ferry::storage {

/// One record as laid out inside a batch. Pointers alias the batch (or its decompressed copy)
/// and are valid only during the visit callback. A null key/value has length -1.
struct RecordView {
  int8_t attributes;
  int64_t timestamp_delta;  ///< record timestamp = batch base_timestamp + timestamp_delta (CreateTime)
  int32_t offset_delta;     ///< record offset = batch base_offset + offset_delta
  const uint8_t* key;
  int32_t key_length;
  const uint8_t* value;
  int32_t value_length;
  int32_t header_count;
  /// The record's raw header section (headerCount varint through the record's end), so a
  /// record can be re-encoded around a new timestamp delta without parsing headers again.
  const uint8_t* headers;
  size_t headers_size;
};

/// Called per record in order; return false to stop early (not an error).
using RecordVisitor = std::function<bool(const RecordView&)>;

/// Parses the records of the batch at batch[0..size) described by `h`, checking what Kafka's
/// DefaultRecord.readFrom checks: varints well-formed, record length covering exactly the record,
/// key/value lengths >= -1 and inside the record, header keys non-null, exactly h.record_count
/// records and no bytes after them. With `consecutive_offsets` (producer batches) each
/// offsetDelta must equal the record's index; without it (stored batches, which compaction may
/// have thinned) they need only increase. `scratch` receives the decompressed records of a
/// compressed batch. Returns "" on success (or early stop), otherwise the reason, e.g.
/// "record 3: offsetDelta 7, expected 3".
std::string for_each_record(const uint8_t* batch, size_t size, const BatchHeader& h, bool consecutive_offsets,
                            std::vector<uint8_t>& scratch, const RecordVisitor& visit);

}  // namespace ferry::storage
