#include "dr-orchestrator/backends.h"

namespace ferry::dr {

RealBackends::RealBackends() = default;
RealBackends::~RealBackends() = default;

RegionHealth RealBackends::probe(const RegionConfig& region, std::chrono::milliseconds timeout) {
  return RegionClient(region, timeout).probe();
}

ClusterRole RealBackends::cluster_role(const RegionConfig& region) { return RegionClient(region).cluster_role(); }

void RealBackends::set_cluster_role(const RegionConfig& region, ClusterRole role) {
  RegionClient(region).set_cluster_role(role);
}

std::map<TopicPartition, int64_t> RealBackends::log_end_offsets(const RegionConfig& region,
                                                                const std::vector<std::string>& topics) {
  return RegionClient(region).log_end_offsets(topics);
}

client::Admin& RealBackends::admin(const RegionConfig& region) {
  std::lock_guard lock(mu_);
  auto& a = admins_[region.name];
  if (!a) {
    auto props = region.properties();
    props["client.id"] = "ferry-dr";
    a = std::make_unique<client::Admin>(props, std::chrono::milliseconds(5000));
  }
  return *a;
}

std::vector<client::GroupListing> RealBackends::list_groups(const RegionConfig& region) {
  return admin(region).list_groups();
}

std::vector<client::GroupOffset> RealBackends::group_offsets(const RegionConfig& region, const std::string& group) {
  return admin(region).group_offsets(group);
}

FlowHealth RealBackends::probe_flow(const FlowConfig& flow) { return dr::probe_flow(flow); }

PauseResult RealBackends::pause(const std::string& url, const FlowConfig& flow, std::chrono::milliseconds drain) {
  return MirrorClient(url).pause(flow.source, flow.target, drain);
}

void RealBackends::resume(const std::string& url, const FlowConfig& flow) {
  MirrorClient(url).resume(flow.source, flow.target);
}

CheckpointResult RealBackends::checkpoint(const std::string& url, const FlowConfig& flow, std::chrono::milliseconds limit) {
  return MirrorClient(url).checkpoint(flow.source, flow.target, limit);
}

CanaryResult RealBackends::run(const RegionConfig& region, const std::string& key, std::chrono::milliseconds timeout) {
  return run_canary(region, key, timeout);
}

void resume_flow(MirrorOps& mirrors, const FlowConfig& flow) {
  for (const auto& url : flow.status_urls) mirrors.resume(url, flow);
}

}  // namespace ferry::dr
