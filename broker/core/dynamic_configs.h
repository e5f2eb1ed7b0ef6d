// The dynamic broker configs (KIP-226) this broker holds and the disaster-recovery role they
// resolve to. Split out of ReplicaManager, which persists changes through the metadata store and
// re-applies topic configs after them.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "broker/config/broker_config.h"
#include "common/metrics.h"

namespace ferry::broker {

/// Dynamic broker configs by entity ("" = the cluster-wide default, the node id string = this
/// broker) and the role keys resolved over them. Thread-safe.
class DynamicBrokerConfigs {
 public:
  /// `config` is the static file's view (the fallback of every key); `metrics` gets the
  /// ferry_broker_cluster_role gauge.
  DynamicBrokerConfigs(const BrokerConfig& config, metrics::Registry& metrics);

  /// Replaces everything with `stored` (entity -> key -> value text), as loaded at startup.
  void load(std::map<std::string, std::map<std::string, std::string>> stored);
  /// The configs of `entity` (key -> value text); empty when none.
  std::map<std::string, std::string> of(const std::string& entity) const;
  /// Replaces everything with `stored` when it differs (another broker of the region changed
  /// it) and resolves the role again, logging a warning when the role changes. Returns whether
  /// anything changed.
  bool replace(std::map<std::string, std::map<std::string, std::string>> stored);
  /// Replaces the configs of `entity` (empty `configs` removes it) and resolves the role again;
  /// logs a warning when the role changes. The caller has validated and persisted them.
  void set(const std::string& entity, const std::map<std::string, std::string>& configs);

  /// The (broker key, value text) pairs that act as topic defaults, in the order they apply: the
  /// cluster-wide default first, then this broker's own (each replacing what came before).
  std::vector<std::pair<std::string, std::string>> in_precedence_order() const;

  /// Whether the cluster is in the standby role (ferry.cluster.role = standby): this node's
  /// dynamic value, else the cluster-wide default, else the config file, else primary.
  bool standby() const { return standby_.load(std::memory_order_acquire); }
  /// Whether Produce from `client_id`, sent by `principal` ("User:mirror"), is served: always on a
  /// primary; on a standby only for a client id starting with one of
  /// ferry.standby.allowed.client.id.prefixes and, when ferry.standby.allowed.principals is not
  /// empty, from one of those principals (both resolved like the role).
  bool produce_allowed(const std::string& client_id, const std::string& principal = "User:ANONYMOUS") const;

 private:
  void resolve_role_locked();  // mu_ held
  void resolve_and_log_locked();  // mu_ held: resolve_role_locked, and a warning when the role changed

  const BrokerConfig& config_;
  metrics::Registry& metrics_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> by_entity_;
  std::atomic<bool> standby_{false};             // readable without mu_
  std::vector<std::string> standby_writer_prefixes_;  // under mu_
  std::vector<std::string> standby_writer_principals_;  // under mu_; empty = any principal
};

}  // namespace ferry::broker
