// Record-level pieces of log compaction (Kafka docs "Log Compaction"; KIP-534 for the delete
// horizon): the key -> latest-offset map, the per-batch filter that rewrites a batch with the
// records that survive, and the produce-side null-key check. Log::clean (log_clean.cc) drives them
// over segments; nothing here touches files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/storage/record_batch.h"

namespace ferry::storage {

/// Record key bytes -> offset of the newest record carrying that key in the section the map was
/// built over (tombstones included). Memory grows with the number of distinct keys; Kafka bounds
/// it with a fixed dedupe buffer of key hashes instead, which this engine does not need yet.
using OffsetMap = std::unordered_map<std::string, int64_t>;

/// Adds every keyed record of the non-control batch at batch[0..size) whose offset is >=
/// `from_offset` to `map`, later offsets overwriting earlier ones. Control batches carry no user
/// keys and are skipped. Returns "" or why the records could not be read (the map is then
/// unchanged for the records after the damage).
std::string add_to_offset_map(const uint8_t* batch, size_t size, const BatchHeader& h, int64_t from_offset, OffsetMap& map);

/// The records of a producer's blob (concatenated v2 batches, already accepted by
/// validate_produce_records) that have a null key, as their index among the blob's records
/// (Kafka's RecordError.batchIndex: with one batch per partition, as Produce v3+ sends, the
/// index within that batch). Control batches are skipped. Kafka refuses such records on a topic
/// whose cleanup.policy includes compact (LogValidator.validateKey: INVALID_RECORD, error 87,
/// one record error per keyless record, the whole batch rejected); validate_produce_records
/// cannot know the topic's policy, so the broker calls this. A batch whose records cannot be
/// read yields the index of its first record, so it is refused as well.
std::vector<int32_t> null_key_records(const uint8_t* data, size_t n);

/// True when null_key_records() finds any.
bool has_null_key(const uint8_t* data, size_t n);

/// The rules one cleaning pass applies to each record.
struct CleanRules {
  const OffsetMap* map;         ///< built over the dirty section
  int64_t now_ms;               ///< the cleaner's clock; a tombstone goes once now_ms >= its batch's horizon
  int64_t delete_retention_ms;  ///< delete.retention.ms: horizon = now_ms + this, set on first cleaning
};

/// What filter_batch decided for one batch.
struct FilteredBatch {
  enum class Fate {
    keep,     ///< every record survives and nothing needs stamping: the original bytes stay
    rewrite,  ///< `bytes` replaces the batch
    drop,     ///< no record survives and the batch need not be kept as an empty batch
  };
  Fate fate = Fate::keep;
  std::vector<uint8_t> bytes;    ///< the rewritten batch when fate == rewrite
  int32_t records_removed = 0;   ///< superseded records plus expired tombstones
  int32_t tombstones_removed = 0;
  /// Delete horizon of the batch as it now stands when it still holds tombstones, else -1.
  int64_t pending_horizon_ms = -1;
};

/// Filters the batch at batch[0..size) described by `h`. A record survives when it has no key
/// (Kafka drops those as invalid; we keep them rather than lose data the broker let in), or
/// `rules.map` has no newer offset for its key and it is not a tombstone (null value) whose
/// batch's delete horizon has passed. Control batches always survive unchanged.
///
/// A rewritten batch keeps baseOffset, lastOffsetDelta (Kafka overrides the last offset the same
/// way, so producer sequences and segment ends stay put), partitionLeaderEpoch, producer fields
/// and the timestamp type; each record keeps its offset and timestamp. Compressed batches are
/// written back uncompressed (storage has no compressors; the batch grows, never changes meaning).
/// The first time a batch that keeps tombstones is rewritten it gets KIP-534's delete horizon:
/// attribute bit 6 set and baseTimestamp = now_ms + delete_retention_ms (record timestamp deltas
/// are rebased so record timestamps do not change). CreateTime maxTimestamp becomes the newest
/// surviving record's; LogAppendTime batches keep theirs. The CRC is recomputed.
///
/// When nothing survives and `keep_if_empty` is set the batch is rewritten with no records
/// (recordCount 0, offsets and timestamps unchanged): the cleaner does that for the last batch
/// of a segment (so the next segment still starts where this one ends) and for a producer's last
/// batch (so producer state rebuilt from the log keeps its sequence, as Kafka does).
/// Records that cannot be read leave the batch as it is (fate keep) and set *error.
FilteredBatch filter_batch(const uint8_t* batch, size_t size, const BatchHeader& h, const CleanRules& rules, bool keep_if_empty,
                           std::string* error);

}  // namespace ferry::storage
