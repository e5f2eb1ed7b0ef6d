#include "mirror/topic_discovery.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

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
