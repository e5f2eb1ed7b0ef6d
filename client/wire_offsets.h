// ListOffsets (API 2) over Ferry's own wire client, for client::list_offsets. Why not librdkafka:
// rd_kafka_offsets_for_times in librdkafka 2.0.2 keeps its reply state on the caller's stack and
// returns at its timeout while requests are still out; a late reply (a broker that was down comes
// back and answers NOT_LEADER_OR_FOLLOWER) then runs the response callback on that dead frame.
// ferry-mirror died of it with SIGSEGV in the three-broker quickstart, each time right after the
// killed broker returned (the faulting frame: rd_kafka_handle_ListOffsets's "ListOffsetsRequest
// failed" metadata refresh). It also asks the leader librdkafka's cache names, which 2.0.2 does
// not replace by leader epoch (no KIP-320): a query could stay on a former leader. Here every call
// reads Metadata first and is synchronous, so nothing outlives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "client/wire_client.h"

namespace ferry::client {

/// One partition's answer from WireOffsets::list.
struct WireOffset {
  int64_t offset = -1;
  /// The partition's Kafka error code (Kafka protocol numbering, which librdkafka's broker errors
  /// share), 0 when `offset` is valid.
  int16_t error = 0;
  /// The cluster's Metadata does not list the partition (topic unknown, or index beyond its count).
  bool unknown = false;
  /// Its leader could not be reached within the call's timeout (WireError NETWORK).
  bool unreachable = false;
};

/// ListOffsets for many partitions of one cluster, each to its leader, with the connections kept
/// between calls (one per broker, plus one for Metadata). Thread-safe: calls are serialized.
class WireOffsets {
 public:
  /// `props`: librdkafka-style properties: bootstrap.servers (or metadata.broker.list), the
  /// security ones of parse_wire_security, and isolation.level (read_committed asks for the last
  /// stable offset, ListOffsets v2+). Throws std::invalid_argument for bad ones.
  WireOffsets(const std::map<std::string, std::string>& props, std::string client_id);
  ~WireOffsets();
  WireOffsets(const WireOffsets&) = delete;
  WireOffsets& operator=(const WireOffsets&) = delete;

  /// The offset of every partition in `partitions` at `timestamp` (ms, or -1 latest / -2
  /// earliest; KIP-79): Metadata for their topics, then one ListOffsets per leader. A partition
  /// whose leader answers NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, REPLICA_NOT_AVAILABLE,
  /// FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH (leadership moving) is asked again after a fresh
  /// Metadata, up to 3 rounds; a partition with no leader in Metadata gets LEADER_NOT_AVAILABLE.
  /// Every requested partition is in the result. The whole call is bounded by `timeout`.
  /// Throws WireError: NETWORK when no bootstrap server answered Metadata, SSL_HANDSHAKE,
  /// SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM (as WireConnection).
  std::map<std::pair<std::string, int32_t>, WireOffset> list(const std::vector<std::pair<std::string, int32_t>>& partitions,
                                                             int64_t timestamp, std::chrono::milliseconds timeout);

 private:
  struct Leaders;
  Leaders metadata(const std::vector<std::string>& topics, std::chrono::steady_clock::time_point deadline);
  WireConnection& connection(int32_t node_id, std::chrono::steady_clock::time_point deadline);

  std::mutex mu_;
  WireSecurity security_;
  std::vector<std::pair<std::string, std::string>> bootstrap_;
  std::string client_id_;
  int8_t isolation_level_ = 0;
  std::unique_ptr<WireConnection> metadata_conn_;
  std::map<int32_t, std::pair<std::string, std::string>> brokers_;  // node id -> (host, port), from Metadata
  std::map<int32_t, std::unique_ptr<WireConnection>> conns_;
};

}  // namespace ferry::client
