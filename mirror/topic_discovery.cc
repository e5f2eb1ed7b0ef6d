#include "mirror/topic_discovery.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "mirror/acl_sync.h"
#include "mirror/mm2_formats.h"

namespace ferry::mirror {
namespace {

// Topic configs a mirror never copies: they describe the source cluster's own operations, not the
// data (MM2's DefaultConfigPropertyFilter excludes the same kind).
bool copyable_config(const std::string& key) {
  static const std::set<std::string> excluded = {"follower.replication.throttled.replicas",
                                                 "leader.replication.throttled.replicas",
                                                 "message.timestamp.difference.max.ms",
                                                 "message.timestamp.type",
                                                 "unclean.leader.election.enable",
                                                 "min.insync.replicas"};
  return !excluded.contains(key);
}

}  // namespace


TopicDiscovery::TopicDiscovery(const FlowConfig& flow, client::Admin& source, client::Admin& target,
                               FlowConditions& conditions)
    : flow_(flow), source_(source), target_(target), conditions_(conditions) {}

void TopicDiscovery::run(const std::atomic<bool>& running, std::mutex& wake_mu, std::condition_variable& wake) {
  auto backoff = std::chrono::seconds(1);
  auto next_refresh = std::chrono::steady_clock::now();
  while (running) {
    if (std::chrono::steady_clock::now() >= next_refresh) {
      std::chrono::milliseconds wait = flow_.refresh_topics_interval;
      try {
        refresh();
        conditions_.clear("topics");
        if (flow_.sync_topic_acls_enabled && std::chrono::steady_clock::now() >= next_acl_sync_) {
          next_acl_sync_ = std::chrono::steady_clock::now() + flow_.sync_topic_acls_interval;
          try {
            if (size_t n = sync_acls(); n > 0) spdlog::debug("flow {}: {} topic ACL(s) synced", flow_.name(), n);
            conditions_.clear("acls");
          } catch (const std::exception& e) {
            conditions_.set("acls", fmt::format("topic ACL sync failed: {}", e.what()));
          }
        }
        conditions_.clear("source");  // the source answered, so it is reachable again
        backoff = std::chrono::seconds(1);
      } catch (const std::exception& e) {
        conditions_.set("topics", fmt::format("topic refresh failed: {}", e.what()));
        wait = backoff;
        backoff = std::min(backoff * 2, std::chrono::seconds(30));
      }
      next_refresh = std::chrono::steady_clock::now() + wait;
    }
    std::unique_lock lk(wake_mu);
    wake.wait_until(lk, std::min(next_refresh, std::chrono::steady_clock::now() + std::chrono::seconds(1)),
                    [&] { return !running; });
  }
}

void TopicDiscovery::refresh() {
  // Errors name the cluster, so /status says which side is unreachable.
  auto on = [](const std::string& alias, auto&& call) {
    try {
      return call();
    } catch (const client::KafkaError& e) {
      throw client::KafkaError(e.err(), fmt::format("cluster {}: {}", alias, e.what()));
    }
  };
  on(flow_.source, [&] {
    return source_.create_topic(flow_.policy.offset_syncs_topic(flow_.target), 1, flow_.replication_factor,
                                {{"cleanup.policy", "delete"}, {"retention.ms", "-1"}});
  });
  if (!source_heartbeats_made_ && !flow_.paused && (flow_.emit_heartbeats_enabled || flow_.emit_checkpoints_enabled)) {
    // The sync thread's first heartbeat or checkpoint pass creates the source's heartbeats topic a
    // moment after start. Made here first, it is in the data path's first subscription: otherwise
    // its discovery changes every task's subscription, and the whole group rebalances (eagerly,
    // with the producers' queues full) just as the copy begins.
    try {
      source_.create_topic(std::string(kHeartbeatsTopic), 1, flow_.replication_factor, {{"cleanup.policy", "compact"}});
    } catch (const std::exception& e) {
      spdlog::debug("flow {}: heartbeats topic on {} not created now: {}", flow_.name(), flow_.source, e.what());
    }
    source_heartbeats_made_ = true;
  }
  const auto filter = flow_.topic_filter();
  std::map<std::string, client::TopicInfo> on_target;
  for (auto& t : on(flow_.target, [&] { return target_.topics(); })) on_target[t.name] = t;
  std::map<std::string, TopicRoute> routes;
  for (const auto& t : on(flow_.source, [&] { return source_.topics(); })) {
    if (t.is_internal || !filter.should_replicate(t.name)) continue;
    TopicRoute r{t.name, flow_.policy.remote_topic(flow_.source, t.name), t.partitions};
    auto it = on_target.find(r.remote_topic);
    if (it == on_target.end()) {
      std::map<std::string, std::string> configs;
      for (auto& [k, v] : source_.topic_overrides(t.name))
        if (copyable_config(k)) configs[k] = v;
      if (target_.create_topic(r.remote_topic, t.partitions, flow_.replication_factor, configs))
        spdlog::info("flow {}: created {} with {} partitions and {} configs", flow_.name(), r.remote_topic,
                     t.partitions, configs.size());
    } else if (it->second.partitions < t.partitions) {
      target_.create_partitions(r.remote_topic, t.partitions);
      spdlog::info("flow {}: {} grown to {} partitions", flow_.name(), r.remote_topic, t.partitions);
    }
    if (it != on_target.end() && it->second.partitions > t.partitions) {
      conditions_.set("partitions:" + r.remote_topic,
                      fmt::format("{} has {} partitions, more than its source {} ({}); partitions above {} get nothing",
                                  r.remote_topic, it->second.partitions, t.name, t.partitions, t.partitions));
    } else {
      conditions_.clear("partitions:" + r.remote_topic);
    }
    routes.emplace(t.name, std::move(r));
  }
  std::lock_guard lk(mu_);
  if (routes.size() != routes_.size() ||
      !std::equal(routes.begin(), routes.end(), routes_.begin(), [](const auto& a, const auto& b) {
        return a.first == b.first && a.second.partitions == b.second.partitions;
      })) {
    routes_ = std::move(routes);
    ++version_;
    spdlog::info("flow {}: replicating {} topics", flow_.name(), routes_.size());
  }
}

size_t TopicDiscovery::sync_acls() {
  std::map<std::string, std::string> remote_of;
  for (const auto& [source, r] : routes()) remote_of[source] = r.remote_topic;
  if (remote_of.empty()) return 0;
  client::AclBinding filter;  // every LITERAL topic binding, any principal, host, operation
  filter.resource_type = 2;
  filter.pattern_type = 3;
  filter.host = "";
  filter.operation = 1;
  filter.permission = 1;
  std::vector<client::AclBinding> source_acls;
  try {
    source_acls = source_.describe_acls(filter);
  } catch (const client::KafkaError& e) {
    if (e.err() == RD_KAFKA_RESP_ERR_SECURITY_DISABLED) return 0;
    throw client::KafkaError(e.err(), fmt::format("cluster {}: {}", flow_.source, e.what()));
  }
  auto wanted = target_topic_acls(source_acls, remote_of);
  try {
    target_.create_acls(wanted);
  } catch (const client::KafkaError& e) {
    if (e.err() == RD_KAFKA_RESP_ERR_SECURITY_DISABLED) return 0;
    throw client::KafkaError(e.err(), fmt::format("cluster {}: {}", flow_.target, e.what()));
  }
  return wanted.size();
}

std::map<std::string, TopicRoute> TopicDiscovery::routes() const {
  std::lock_guard lk(mu_);
  return routes_;
}

std::pair<uint64_t, std::vector<std::string>> TopicDiscovery::subscription() const {
  std::lock_guard lk(mu_);
  std::vector<std::string> topics;
  for (const auto& [name, _] : routes_) topics.push_back(name);
  return {version_, std::move(topics)};
}

}  // namespace ferry::mirror
