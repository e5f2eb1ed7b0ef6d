// The broker's configuration keys, declared once. Kafka's key names and defaults wherever Kafka has
// the setting (kafka.apache.org/documentation/#brokerconfigs); Ferry-only keys are marked so in
// their doc. Topic-level keys (#topicconfigs) take their defaults from the matching broker key.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker/storage/log.h"
#include "common/config.h"

namespace ferry::broker {

/// The broker schema (every key `ferry-broker` accepts).
const config::Schema& broker_schema();

/// A parsed listener, e.g. "PLAINTEXT://127.0.0.1:9092".
struct Listener {
  std::string name;               // listener name, e.g. PLAINTEXT or INTERNAL
  std::string security_protocol;  // from listener.security.protocol.map
  std::string host;               // empty = all interfaces
  uint16_t port = 0;
  /// SSL or SASL_SSL: the connection starts with a TLS handshake.
  bool tls() const { return security_protocol == "SSL" || security_protocol == "SASL_SSL"; }
  /// SASL_PLAINTEXT or SASL_SSL: nothing but ApiVersions and the SASL exchange before a login.
  bool sasl() const { return security_protocol == "SASL_PLAINTEXT" || security_protocol == "SASL_SSL"; }
};

/// Typed view of the broker configuration. Built by load(); throws config::ConfigError naming the
/// key, the value and the expectation for anything invalid.
struct BrokerConfig {
  config::Values values;
  int32_t node_id = 0;
  std::vector<Listener> listeners;
  std::vector<Listener> advertised_listeners;  // same names as `listeners`
  std::vector<std::string> log_dirs;

  explicit BrokerConfig(const config::Values& v);
  static BrokerConfig load_file(const std::string& path);
  /// The listener followers fetch from (inter.broker.listener.name, else the first listener).
  const Listener& inter_broker_listener() const {
    const auto& name = values.get_string("inter.broker.listener.name");
    for (const auto& l : listeners)
      if (l.name == name) return l;
    return listeners.front();
  }
};

/// A topic-level key and the broker key that supplies its default (Kafka's synonyms, shown by
/// DescribeConfigs with include_synonyms).
struct TopicKey {
  std::string topic_key;
  std::string broker_key;
};
/// Every topic-level key Ferry accepts, with its broker synonym.
const std::vector<TopicKey>& topic_keys();

/// The topic key whose default `broker_key` supplies ("" when none).
std::string topic_key_for(const std::string& broker_key);

/// Broker keys that IncrementalAlterConfigs/AlterConfigs may change at run time (KIP-226 dynamic
/// broker configs): the broker-wide defaults of topic configs (log.retention.ms, ...) and the
/// cluster role keys (role_keys()). Every other key is read-only and needs a restart.
bool is_dynamic_broker_key(const std::string& broker_key);

/// The ssl.* keys AlterConfigs may change for one broker (KIP-226 allows keystore and truststore
/// updates per broker only, never as the cluster-wide default), also in their
/// listener.name.<listener>. form.
bool is_dynamic_ssl_key(const std::string& broker_key);

/// The dynamic keys of the disaster-recovery role (ferry.cluster.role and
/// ferry.standby.allowed.client.id.prefixes): broker-only, with no topic-level synonym.
const std::vector<std::string>& role_keys();

/// The topic-level schema: first the keys of topic_keys(), applied, whose defaults are the broker's
/// current values (retention.ms from log.retention.ms, and so on); then add_accepted_topic_keys().
/// Together every topic config Kafka 3.x documents (#topicconfigs, Kafka's LogConfig).
config::Schema make_topic_schema(const config::Values& broker);

/// Adds the topic configs Kafka 3.x documents that Ferry accepts, checks and describes but has no
/// mechanism for (compression.type, message.format.version, file.delete.delay.ms, ...), each
/// with Kafka's type, default and range and a doc that starts "Accepted, no effect here".
/// Defined in topic_config.cc.
void add_accepted_topic_keys(config::Schema& schema);

/// Checks topic overrides (key -> text, as CreateTopics/AlterConfigs carry them) the way Kafka's
/// LogConfig validators do: type and range per key, plus cleanup.policy values, throttled-replica
/// lists, message.format.version, min.cleanable.dirty.ratio in [0, 1], remote.storage.enable
/// (false only: no tiered storage) and min.compaction.lag.ms <= max.compaction.lag.ms. Throws
/// config::ConfigError naming key, value and expectation (the handlers answer INVALID_CONFIG).
void check_topic_configs(const config::Schema& topic_schema, const std::map<std::string, std::string>& configs);

/// Markdown table of every topic-level key (docs/broker-config.md), defaults from `broker`.
std::string topic_config_reference(const config::Values& broker);

/// Maps topic-level config values to the storage engine's LogConfig.
storage::LogConfig to_log_config(const config::Values& topic);

/// Parses one "NAME://host:port" listener against the protocol map. Throws config::ConfigError.
Listener parse_listener(const std::string& key, const std::string& text,
                        const std::vector<std::string>& protocol_map);

// Authorization

/// The authorizer in force: the `authorizer` key when set ("acl" or "allow-all"); unset, "allow-all"
/// when every listener's security protocol is PLAINTEXT (anyone can claim any identity there, so
/// ACLs would only say User:ANONYMOUS), else "acl".
std::string effective_authorizer(const BrokerConfig& c);

/// The principals of `super.users` (Kafka's syntax: Type:name separated by ';').
std::set<std::string> super_users(const BrokerConfig& c);

/// Checks that every entry of the list `key` is a principal `Type:name` (both parts non-empty, as
/// Kafka's SecurityUtils.parseKafkaPrincipal requires); throws config::ConfigError naming the key
/// and the entry.
void check_principal_list(const std::string& key, const std::vector<std::string>& principals);

/// Checks `authorizer`, `super.users` and `ferry.standby.allowed.principals`; throws
/// config::ConfigError naming key, value and the expectation. Called by the BrokerConfig constructor.
void check_authorizer_keys(const BrokerConfig& c);

}  // namespace ferry::broker
