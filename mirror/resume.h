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
#include <vector>

#include "client/kafka.h"

namespace ferry::mirror {

/// The last record of one flow found in a target partition.
struct ReplicatedTail {
  int64_t upstream_offset = 0;    ///< its source offset (from ferry.upstream)
  int64_t downstream_offset = 0;  ///< its offset in the target partition
  int64_t log_start_offset = 0;   ///< the target partition's log start offset when it was scanned
};


/// One range [from, to) of a partition to read (read_ranges).
struct RangeQuery {
  std::string topic;
  int32_t partition = 0;
  int64_t from = 0;
  int64_t to = 0;
};

/// Reads every range in one pass of `probe` (a consumer handle used with assign only,
/// enable.partition.eof=true), all partitions fetched together: `each(i, message)` gets the records
/// of ranges[i] in offset order (the ranges' records interleave). A range ends at its `to`, at its
/// partition's end, or when `each` returns false. The partitions must be distinct; empty ranges
/// are not read. So a rebalance over 10,000 partitions costs a few fetch rounds, not 10,000.
/// Throws client::KafkaError when nothing is read for 60 s while ranges are open, or a read
/// fails for good (transport errors are retried by librdkafka).
void read_ranges(rd_kafka_t* probe, const std::vector<RangeQuery>& ranges,
                 const std::function<bool(size_t, const rd_kafka_message_t&)>& each);

/// The source offset in the record's ferry.upstream header when the header names `source_alias`
/// and `source_partition` (a record of that flow and partition), else nullopt.
std::optional<int64_t> upstream_offset_of(const rd_kafka_message_t& m, std::string_view source_alias,
                                          int32_t source_partition);

/// Calls `each(message)` for every record in [from, to) of (`topic`, `partition`), in offset order,
/// reading with `probe` (a consumer handle used with assign only, enable.partition.eof=true).
/// Stops early at the partition's end. Throws client::KafkaError when the partition cannot be read
/// within 60 s of no progress.
void read_range(rd_kafka_t* probe, const std::string& topic, int32_t partition, int64_t from, int64_t to,
                const std::function<void(const rd_kafka_message_t&)>& each);

/// One target partition whose replicated tail is wanted (source partition = target partition).
struct TailQuery {
  std::string topic;
  int32_t partition = 0;
};

/// For each query, scans the target partition backwards from its high watermark, in windows
/// growing 4x from 1000 records, for the newest record whose ferry.upstream header names
/// `source_alias` and the same partition number. Records other flows or local producers wrote in
/// between (bidirectional identity setups) are skipped. Every partition's window is read in one
/// pass of `probe` (a consumer on the target used with assign only), so a rebalance over many
/// partitions costs about as much as one. Returns one entry per query, in order (nullopt where the
/// partition holds no record of the flow). Throws client::KafkaError when the target cannot be read.
std::vector<std::optional<ReplicatedTail>> find_replicated_tails(rd_kafka_t* probe, client::Admin& target,
                                                                 const std::vector<TailQuery>& queries,
                                                                 std::string_view source_alias);

}  // namespace ferry::mirror
