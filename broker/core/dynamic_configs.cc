#include "broker/core/dynamic_configs.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace ferry::broker {

DynamicBrokerConfigs::DynamicBrokerConfigs(const BrokerConfig& config, metrics::Registry& metrics)
    : config_(config), metrics_(metrics) {}

void DynamicBrokerConfigs::load(std::map<std::string, std::map<std::string, std::string>> stored) {
  std::lock_guard lk(mu_);
  by_entity_ = std::move(stored);
  resolve_role_locked();
}

std::map<std::string, std::string> DynamicBrokerConfigs::of(const std::string& entity) const {
  std::lock_guard lk(mu_);
  auto it = by_entity_.find(entity);
  return it == by_entity_.end() ? std::map<std::string, std::string>{} : it->second;
}

bool DynamicBrokerConfigs::replace(std::map<std::string, std::map<std::string, std::string>> stored) {
  std::lock_guard lk(mu_);
  if (stored == by_entity_) return false;
  by_entity_ = std::move(stored);
  resolve_and_log_locked();
  return true;
}

void DynamicBrokerConfigs::set(const std::string& entity, const std::map<std::string, std::string>& configs) {
  std::lock_guard lk(mu_);
  if (configs.empty())
    by_entity_.erase(entity);
  else
    by_entity_[entity] = configs;
  resolve_and_log_locked();
}

void DynamicBrokerConfigs::resolve_and_log_locked() {
  const bool was_standby = standby_.load();
  resolve_role_locked();
  if (was_standby != standby_.load())
    spdlog::warn("cluster role now {}: Produce from applications is {}", standby_.load() ? "standby" : "primary",
                 standby_.load() ? "refused (fenced)" : "served");
}

std::vector<std::pair<std::string, std::string>> DynamicBrokerConfigs::in_precedence_order() const {
  std::lock_guard lk(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& entity : {std::string(), std::to_string(config_.node_id)})
    if (auto it = by_entity_.find(entity); it != by_entity_.end())
      for (const auto& kv : it->second) out.push_back(kv);
  return out;
}

void DynamicBrokerConfigs::resolve_role_locked() {
  // Most specific first, as DescribeConfigs reports the synonyms (KIP-226).
  auto resolve = [&](const std::string& key) -> std::optional<std::string> {
    for (const std::string& entity : {std::to_string(config_.node_id), std::string()}) {
      if (auto e = by_entity_.find(entity); e != by_entity_.end())
        if (auto it = e->second.find(key); it != e->second.end()) return it->second;
    }
    return std::nullopt;
  };
  const std::string role = resolve("ferry.cluster.role").value_or(config_.values.get_string("ferry.cluster.role"));
  auto resolve_list = [&](const std::string& key) {
    if (auto dyn = resolve(key)) return std::get<std::vector<std::string>>(broker_schema().parse_text(key, *dyn));
    return config_.values.get_list(key);
  };
  standby_writer_prefixes_ = resolve_list("ferry.standby.allowed.client.id.prefixes");
  standby_writer_principals_ = resolve_list("ferry.standby.allowed.principals");
  standby_.store(role == "standby", std::memory_order_release);
  for (const char* r : {"primary", "standby"})
    metrics_.gauge("ferry_broker_cluster_role", "1 for the disaster-recovery role in force (ferry.cluster.role).",
                   {{"role", r}})
        .set(role == r ? 1 : 0);
}

bool DynamicBrokerConfigs::produce_allowed(const std::string& client_id, const std::string& principal) const {
  if (!standby()) return true;
  std::lock_guard lk(mu_);
  if (!standby_writer_principals_.empty() &&
      std::find(standby_writer_principals_.begin(), standby_writer_principals_.end(), principal) ==
          standby_writer_principals_.end())
    return false;
  return std::any_of(standby_writer_prefixes_.begin(), standby_writer_prefixes_.end(),
                     [&](const std::string& p) { return !p.empty() && client_id.starts_with(p); });
}

}  // namespace ferry::broker
