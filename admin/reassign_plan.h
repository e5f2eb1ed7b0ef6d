// The reassignment file of `ferry-admin topics reassign`: kafka-reassign-partitions.sh's JSON
// format (version 1), parsed and validated before anything is sent, and written back for the
// "to roll back" document printed before --execute. Kept apart from the command so the parser is
// unit-tested without a cluster (admin/tests/cli_test.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::admin {

/// One partition of a reassignment file: move `topic`-`partition` to `replicas`, in that order
/// (the first is the preferred leader, as in Kafka).
struct PartitionMove {
  std::string topic;
  int32_t partition = 0;
  std::vector<int32_t> replicas;  ///< broker ids, non-empty, no duplicates
  bool operator==(const PartitionMove&) const = default;
};

/// Parses the text of a reassignment file in Kafka's format,
///   {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}, ...]}
/// as ReassignPartitionsCommand.parsePartitionReassignmentData does (Kafka's
/// kafka-reassign-partitions.sh; KIP-455): "version" must be 1 (absent means 1); "partitions" a
/// non-empty array; each entry an object with "topic" (non-empty string), "partition" (integer
/// 0..2147483647) and "replicas" (non-empty array of broker ids 0..2147483647 without duplicates);
/// an optional "log_dirs" must list "any" once per replica (Ferry has no per-directory placement);
/// other keys are ignored; no (topic, partition) may appear twice. Entries keep the file's order.
/// Throws UsageError for `command` whose message starts "--reassignment-json-file FILE: " and names
/// the entry ("partitions[2] (orders-0): ...") and what was expected.
std::vector<PartitionMove> parse_reassignment_json(const std::string& command, const std::string& file,
                                                   std::string_view text);

/// Reads `file` and parses it with parse_reassignment_json. Throws UsageError naming the file when
/// it cannot be read.
std::vector<PartitionMove> read_reassignment_file(const std::string& command, const std::string& file);

/// `moves` as one line of Kafka's format ({"version":1,"partitions":[...]}, entries in the given
/// order): what --execute prints as the current assignment, to be saved for a rollback.
std::string reassignment_json(const std::vector<PartitionMove>& moves);

}  // namespace ferry::admin
