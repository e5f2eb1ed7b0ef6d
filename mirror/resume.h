// Where to resume replicating a source partition, learned from the target itself: the last record
// this flow wrote to the remote partition carries its source position in the ferry.upstream header
// (provenance.h), so the next record to copy is the one after it. Nothing is kept on the mirror's
// side, which is why a mirror killed at any moment, or replaced by another process of the same
// flow, restarts with no duplicates and no gaps (docs/mirror.md, "Resuming").
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "client/kafka.h"

namespace ferry::mirror {

/// The last record of one flow found in a target partition.
struct ReplicatedTail {
  int64_t upstream_offset = 0;    ///< its source offset (from ferry.upstream)
  int64_t downstream_offset = 0;  ///< its offset in the target partition
};

/// Calls `each(message)` for every record in [from, to) of (`topic`, `partition`), in offset order,
/// reading with `probe` (a consumer handle used with assign only, enable.partition.eof=true).
/// Stops early at the partition's end. Throws client::KafkaError when the partition cannot be read
/// within 60 s of no progress.
void read_range(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from, int64_t to,
                const std::function<void(const rd_kafka_message_t&)>& each);

/// Calls `each(upstream offset, downstream offset)` for every record of the flow (ferry.upstream
/// naming `source_alias` and `source_partition`) in [from, to) of target partition (`topic`,
/// `partition`), in offset order. Throws client::KafkaError when the target cannot be read.
void for_each_replicated(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from, int64_t to,
                         std::string_view source_alias, int32_t source_partition,
                         const std::function<void(int64_t, int64_t)>& each);

/// Scans target partition (`topic`, `partition`) backwards from its high watermark, in windows
/// growing 4x from 1000 records, for the newest record whose ferry.upstream header names
/// `source_alias` and `source_partition`. Records other flows or local producers wrote in between
/// (bidirectional identity setups) are skipped. `probe` is a consumer handle on the target used
/// only for this (assign/seek, no group). nullopt when the partition holds no such record.
/// Throws client::KafkaError when the target cannot be read.
std::optional<ReplicatedTail> find_replicated_tail(rd_kafka_t* probe, client::Admin& target, const std::string& topic,
                                                   int32_t partition, std::string_view source_alias,
                                                   int32_t source_partition);

}  // namespace ferry::mirror
