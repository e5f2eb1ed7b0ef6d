// The Kafka side of ferry-dr: probing a region's health and reading and writing its cluster role,
// through the public protocol only (librdkafka for Metadata, ListOffsets and DescribeConfigs;
// role_client.h for IncrementalAlterConfigs, which librdkafka 2.0.2 lacks).
//
// The role is the broker's dynamic config `ferry.cluster.role` ("primary" | "standby", default
// primary; see broker/README.md): a standby refuses application Produce, which is how ferry-dr
// fences an old primary.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dr-orchestrator/config.h"
#include "dr-orchestrator/health.h"

namespace ferry::dr {

/// The dynamic broker config that carries the role.
inline constexpr const char* kClusterRoleKey = "ferry.cluster.role";

/// A region's DR role. On-wire (broker config values, JSON): never rename.
enum class ClusterRole { primary, standby };
const char* to_string(ClusterRole r);
/// "primary" | "standby"; anything else throws std::invalid_argument naming the value.
ClusterRole parse_cluster_role(const std::string& s);

/// (topic, partition).
using TopicPartition = std::pair<std::string, int32_t>;

/// Talks to one region. Each instance owns one librdkafka handle, created lazily on first use so
/// that constructing never blocks. Not thread-safe: one caller at a time. Errors are reported as
/// DrError(Exit::failed, "region <name>: ...") naming the region and librdkafka's error code,
/// except probe(), which reports them in RegionHealth::error.
class RegionClient {
 public:
  /// `timeout` bounds each request (Metadata, each ListOffsets batch, DescribeConfigs, and the
  /// IncrementalAlterConfigs exchange). Throws DrError(Exit::bad_input) when librdkafka refuses a
  /// client property (unknown key or bad value; the message names it).
  explicit RegionClient(RegionConfig region, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~RegionClient();
  RegionClient(const RegionClient&) = delete;
  RegionClient& operator=(const RegionClient&) = delete;

  const RegionConfig& region() const { return region_; }

  /// One health probe: Metadata (brokers, controller id, per-partition leader/replicas/ISR),
  /// DescribeConfigs of every user topic (min.insync.replicas) and of one broker (the role),
  /// ListOffsets latest of every partition, and a GET of metrics.url when configured. Never
  /// throws for an unreachable or misbehaving region: `reachable`=false or `error` says why, and
  /// whatever parts succeeded are filled in.
  RegionHealth probe();

  /// The role, read with DescribeConfigs (BROKER resource, the first broker in Metadata): the
  /// effective value, so a cluster-default "" entry set by set_cluster_role shows. Throws DrError.
  ClusterRole cluster_role();

  /// Writes `ferry.cluster.role` on the cluster-default entity "" with IncrementalAlterConfigs
  /// SET (KIP-339), leaving every other dynamic config untouched. Idempotent. Throws DrError
  /// (Exit::failed) naming the region, the Kafka error code and the broker's message.
  void set_cluster_role(ClusterRole role);

  /// The log end offset (high watermark, ListOffsets latest) of every partition of `topics`
  /// (all user topics when empty). A topic that does not exist throws DrError naming it.
  std::map<TopicPartition, int64_t> log_end_offsets(const std::vector<std::string>& topics = {});

 private:
  struct Impl;
  RegionConfig region_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Impl> impl_;
};

/// One-shot conveniences over RegionClient for the state machine.
ClusterRole cluster_role(const RegionConfig& region);
void set_cluster_role(const RegionConfig& region, ClusterRole role);
std::map<TopicPartition, int64_t> log_end_offsets(const RegionConfig& region, const std::vector<std::string>& topics);
RegionHealth probe(const RegionConfig& region);

}  // namespace ferry::dr
