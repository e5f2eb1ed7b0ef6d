// What the failover / failback state machine does to the outside world, behind interfaces: the
// regions (Kafka clusters: health, the ferry.cluster.role config, log end offsets, consumer
// groups), the mirror processes (ferry-mirror's control API) and the canary. The real
// implementations (real_backends()) are kafka_admin.h, role_client.h, mirror_client.h and
// canary.h; the state machine's unit tests drive `Operation` with in-memory ones instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/kafka.h"
#include "dr-orchestrator/canary.h"
#include "dr-orchestrator/config.h"
#include "dr-orchestrator/health.h"
#include "dr-orchestrator/kafka_admin.h"
#include "dr-orchestrator/mirror_client.h"

namespace ferry::dr {

/// A region's Kafka cluster. Errors are DrError(Exit::failed) naming the region, except probe(),
/// which reports them in RegionHealth. Implementations may be called from several threads at
/// once (collect_status probes regions in parallel).
class RegionOps {
 public:
  virtual ~RegionOps() = default;
  /// One health probe (kafka_admin.h RegionClient::probe), each request bounded by `timeout`.
  virtual RegionHealth probe(const RegionConfig& region, std::chrono::milliseconds timeout) = 0;
  /// The effective ferry.cluster.role (DescribeConfigs).
  virtual ClusterRole cluster_role(const RegionConfig& region) = 0;
  /// Sets ferry.cluster.role on the cluster-default entity (IncrementalAlterConfigs, KIP-339).
  virtual void set_cluster_role(const RegionConfig& region, ClusterRole role) = 0;
  /// Log end offsets (ListOffsets latest) of every partition of `topics`.
  virtual std::map<TopicPartition, int64_t> log_end_offsets(const RegionConfig& region,
                                                            const std::vector<std::string>& topics) = 0;
  /// Every consumer group with its state (ListGroups). Throws any std::exception when the groups
  /// cannot be read (the drain then proceeds without waiting for them).
  virtual std::vector<client::GroupListing> list_groups(const RegionConfig& region) = 0;
  /// A group's committed offsets (OffsetFetch). Throws like list_groups.
  virtual std::vector<client::GroupOffset> group_offsets(const RegionConfig& region, const std::string& group) = 0;
};

/// The ferry-mirror processes of a flow, addressed by status URL (docs/dr.md "Mirror control
/// API"). Errors are MirrorError.
class MirrorOps {
 public:
  virtual ~MirrorOps() = default;
  /// GET /status on every status URL of `flow`, combined (mirror_client.h probe_flow). Never throws.
  virtual FlowHealth probe_flow(const FlowConfig& flow) = 0;
  /// POST /flows/<source>/<target>/pause on the process at `url`.
  virtual PauseResult pause(const std::string& url, const FlowConfig& flow, std::chrono::milliseconds drain) = 0;
  /// POST /flows/<source>/<target>/resume on the process at `url`.
  virtual void resume(const std::string& url, const FlowConfig& flow) = 0;
  /// POST /flows/<source>/<target>/checkpoint on the process at `url`.
  virtual CheckpointResult checkpoint(const std::string& url, const FlowConfig& flow, std::chrono::milliseconds limit) = 0;
};

/// The verify step's round trip (canary.h run_canary). Throws any std::exception on failure.
class CanaryOps {
 public:
  virtual ~CanaryOps() = default;
  virtual CanaryResult run(const RegionConfig& region, const std::string& key, std::chrono::milliseconds timeout) = 0;
};

/// The three, as the state machine uses them. Non-owning.
struct Backends {
  RegionOps& regions;
  MirrorOps& mirrors;
  CanaryOps& canary;
};

/// The real implementations over librdkafka (kafka_admin.h, client/kafka.h), role_client.h,
/// mirror_client.h (libcurl) and canary.h. One instance per Operation: it keeps one Admin handle
/// per region for the consumer-group reads a drain repeats every 200 ms.
class RealBackends final : public RegionOps, public MirrorOps, public CanaryOps {
 public:
  RealBackends();
  ~RealBackends() override;
  Backends view() { return {*this, *this, *this}; }

  RegionHealth probe(const RegionConfig& region, std::chrono::milliseconds timeout) override;
  ClusterRole cluster_role(const RegionConfig& region) override;
  void set_cluster_role(const RegionConfig& region, ClusterRole role) override;
  std::map<TopicPartition, int64_t> log_end_offsets(const RegionConfig& region,
                                                    const std::vector<std::string>& topics) override;
  std::vector<client::GroupListing> list_groups(const RegionConfig& region) override;
  std::vector<client::GroupOffset> group_offsets(const RegionConfig& region, const std::string& group) override;

  FlowHealth probe_flow(const FlowConfig& flow) override;
  PauseResult pause(const std::string& url, const FlowConfig& flow, std::chrono::milliseconds drain) override;
  void resume(const std::string& url, const FlowConfig& flow) override;
  CheckpointResult checkpoint(const std::string& url, const FlowConfig& flow, std::chrono::milliseconds limit) override;

  CanaryResult run(const RegionConfig& region, const std::string& key, std::chrono::milliseconds timeout) override;

 private:
  client::Admin& admin(const RegionConfig& region);
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<client::Admin>> admins_;  ///< by region name
};

/// Resumes `flow` on every one of its mirror processes (throws the first MirrorError).
void resume_flow(MirrorOps& mirrors, const FlowConfig& flow);

}  // namespace ferry::dr
